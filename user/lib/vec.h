/* A growable array of fixed-size elements, for rows collected from maps, lists of
 * records and the like. Not for bytes (buf.h). A failed allocation is sticky: the array
 * keeps what fit and says so, and the caller reports one error at the end. */
#ifndef CTRLSCOPE_VEC_H
#define CTRLSCOPE_VEC_H

#include <stdbool.h>
#include <stddef.h>

struct vec {
	void *items;
	size_t n;
	size_t cap;
	size_t size; /* of one element */
	bool failed; /* an allocation failed: items holds the elements that fit */
};

/* An empty array of elements of type's size. */
#define VEC_INIT(type) ((struct vec){ .size = sizeof(type) })

/* A new zeroed element at the end, or NULL (and failed set) when there is no memory. */
void *vec_push(struct vec *v);
/* Element i (i < v->n). */
static inline void *vec_at(const struct vec *v, size_t i)
{
	return (char *)v->items + i * v->size;
}
/* Free the elements; the array is empty (and not failed) again. */
void vec_free(struct vec *v);

#endif
