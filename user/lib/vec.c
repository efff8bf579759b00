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

void vec_free(struct vec *v)
{
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
	v->failed = false;
}
