/* The one writer of the Prometheus text exposition format (version 0.0.4). It owns
 * escaping of label values and help text and the formatting of numbers; callers pass raw
 * strings and numbers and never format exposition text themselves. */
#ifndef CTRLSCOPE_EXPO_H
#define CTRLSCOPE_EXPO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct label {
	const char *name;
	const char *value;
};

struct expo {
	struct buf *out;
	const char *family; /* name of the family being written */
};

/* A histogram with per-bucket (not cumulative) counts. The last bucket has no finite
 * upper bound: it is only covered by le="+Inf". */
struct expo_hist {
	const char *const *le; /* n_buckets - 1 upper bounds, already formatted */
	const uint64_t *counts;
	size_t n_buckets;
	double sum;
};

void expo_init(struct expo *e, struct buf *out);
/* Start a family: writes # HELP and # TYPE. type is counter, gauge or histogram. */
void expo_family(struct expo *e, const char *name, const char *type, const char *help);
/* A sample of the current family; suffix ("" or "_bucket", ...) is appended to its name. */
void expo_u64(struct expo *e, const struct label *labels, size_t n_labels, uint64_t value);
void expo_f64(struct expo *e, const struct label *labels, size_t n_labels, double value);
void expo_histogram(struct expo *e, const struct label *labels, size_t n_labels,
		    const struct expo_hist *h);

/* Exposed for tests: append a label value / help text, escaped. Invalid UTF-8 becomes
 * U+FFFD, as the format requires UTF-8 and one bad byte must not break a whole scrape. */
void expo_escape_label_value(struct buf *b, const char *value);
void expo_escape_help(struct buf *b, const char *help);
void expo_format_f64(struct buf *b, double v);
/* 2^exp nanoseconds in seconds, as an exact decimal ("0.000000256"). */
void expo_format_pow2_ns(char *out, size_t size, unsigned int exp);

/* The `le` bounds of a log2 nanosecond histogram, formatted once. */
#define EXPO_MAX_BOUNDS 64
struct expo_bounds {
	char text[EXPO_MAX_BOUNDS][24];
	const char *le[EXPO_MAX_BOUNDS];
};
/* n bounds (at most EXPO_MAX_BOUNDS): 2^min_exp, 2^(min_exp+1), ... nanoseconds. */
void expo_pow2_ns_bounds(struct expo_bounds *b, unsigned int min_exp, size_t n);

#endif
