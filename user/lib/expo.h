/* The one writer of the Prometheus text exposition format (version 0.0.4) and of
 * OpenMetrics 1.0 text. It owns escaping of label values and help text and the formatting
 * of numbers; callers pass raw strings and numbers and never format exposition text
 * themselves, and write the same calls for either format. */
#ifndef CTRLSCOPE_EXPO_H
#define CTRLSCOPE_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define EXPO_CONTENT_TYPE	      "text/plain; version=0.0.4; charset=utf-8"
#define EXPO_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

enum expo_format { EXPO_TEXT, EXPO_OPENMETRICS };

struct label {
	const char *name;
	const char *value;
};

struct expo {
	struct buf *out;
	enum expo_format format;
	const char *family; /* name of the family being written */
	size_t base_len;    /* its name without a counter's _total */
	bool counter;
	double created; /* expo_created's time for the family's series, 0 without one */
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
void expo_init_format(struct expo *e, struct buf *out, enum expo_format format);
/* Start a family: writes # HELP and # TYPE. type is counter, gauge or histogram; a
 * counter's name ends in _total, which OpenMetrics leaves out of the family's name. */
void expo_family(struct expo *e, const char *name, const char *type, const char *help);
/* When every series of the current counter or histogram family started counting, in Unix
 * seconds: OpenMetrics writes it as each series' _created sample. Only for a family whose
 * series all began with the agent (or another known moment): never a guess. */
void expo_created(struct expo *e, double unix_seconds);
/* The end of the page: OpenMetrics' # EOF. */
void expo_finish(struct expo *e);
const char *expo_content_type(enum expo_format format);
/* A sample of the current family; suffix ("" or "_bucket", ...) is appended to its name. */
void expo_u64(struct expo *e, const struct label *labels, size_t n_labels, uint64_t value);
void expo_f64(struct expo *e, const struct label *labels, size_t n_labels, double value);
void expo_histogram(struct expo *e, const struct label *labels, size_t n_labels,
		    const struct expo_hist *h);

/* Exposed for tests: append a label value / help text (of the text format), escaped. Invalid UTF-8 becomes
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
