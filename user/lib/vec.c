/* Growable array: see vec.h. */
#include "vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *vec_push(struct vec *v)
{
	void *item;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		void *items;

		if (v->size && cap > SIZE_MAX / v->size)
			items = NULL;
		else
			items = realloc(v->items, cap * v->size);
		if (!items) {
			v->failed = true;
			return NULL;
		}
		v->items = items;
		v->cap = cap;
	}
	item = vec_at(v, v->n++);
	memset(item, 0, v->size);
	return item;
}

void *array_push(void **items, size_t n, size_t size)
{
	char *item;

	if (n == 0 || (n >= 4 && !(n & (n - 1)))) {
		size_t cap = n ? n * 2 : 4;
		void *grown = cap > SIZE_MAX / size ? NULL : realloc(*items, cap * size);

		if (!grown)
			return NULL;
		*items = grown;
	}
	item = (char *)*items + n * size;
	memset(item, 0, size);
	return item;
}

void vec_free(struct vec *v)
{
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
	v->failed = false;
}

void vec_remove(struct vec *v, size_t i)
{
	char *at = vec_at(v, i);

	memmove(at, at + v->size, (v->n - i - 1) * v->size);
	v->n--;
}
