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
/* Take element i (i < v->n) out, the ones after it moving down. */
void vec_remove(struct vec *v, size_t i);
/* Free the elements; the array is empty (and not failed) again. */
void vec_free(struct vec *v);

/* The same growth for an array kept as a pointer and a count, as public structs hold them
 * (items, n): a new zeroed element at index n, or NULL (the array unchanged) when there is
 * no memory. The caller counts it (n + 1) once it is filled in. The capacity is implied by
 * n (the next power of two, at least 4), so nothing else is stored. */
void *array_push(void **items, size_t n, size_t size);
#define ARRAY_PUSH(items, n)                                                                       \
	((__typeof__(items))array_push((void **)&(items), (n), sizeof(*(items))))

#endif
