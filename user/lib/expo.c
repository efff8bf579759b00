/* Prometheus text exposition writer: see expo.h. Format references:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4) and
 * https://github.com/prometheus/docs/blob/main/docs/specs/om/open_metrics_spec.md
 * (OpenMetrics 1.0). The two differ, for what the agent writes, in a counter family's name
 * (without _total in OpenMetrics), a quote in help text (escaped in OpenMetrics), the
 * _created samples and the final # EOF. */
#include "expo.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void expo_init_format(struct expo *e, struct buf *out, enum expo_format format)
{
	*e = (struct expo){ .out = out, .format = format };
}

void expo_init(struct expo *e, struct buf *out)
{
	expo_init_format(e, out, EXPO_TEXT);
}

const char *expo_content_type(enum expo_format format)
{
	return format == EXPO_OPENMETRICS ? EXPO_OPENMETRICS_CONTENT_TYPE : EXPO_CONTENT_TYPE;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF (RFC 3629). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned int cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Bytes that a label value (quote) or help text keeps as they are. */
static inline bool plain(unsigned char c, bool quote)
{
	return c < 0x80 && c != '\\' && c != '\n' && (c != '"' || !quote);
}

/* Runs of plain bytes are copied whole: most values have no byte to escape. */
static void escape(struct buf *b, const char *value, bool quote)
{
	const unsigned char *s = (const unsigned char *)value, *run = s;
	size_t n = strlen(value);

	while (n) {
		size_t len;

		if (plain(*s, quote)) {
			s++;
			n--;
			continue;
		}
		buf_append(b, run, (size_t)(s - run));
		len = utf8_seq_len(s, n);
		if (!len) {
			buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD REPLACEMENT CHARACTER */
			len = 1;
		} else if (*s == '\\') {
			buf_append(b, "\\\\", 2);
		} else if (*s == '\n') {
			buf_append(b, "\\n", 2);
		} else if (*s == '"') {
			buf_append(b, "\\\"", 2);
		} else {
			buf_append(b, s, len);
		}
		s += len;
		n -= len;
		run = s;
	}
	buf_append(b, run, (size_t)(s - run));
}

void expo_escape_label_value(struct buf *b, const char *value)
{
	escape(b, value, true);
}

void expo_escape_help(struct buf *b, const char *help)
{
	escape(b, help, false);
}

void expo_format_f64(struct buf *b, double v)
{
	if (isnan(v))
		buf_puts(b, "NaN");
	else if (isinf(v))
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	else
		buf_printf(b, "%.17g", v);
}

void expo_format_pow2_ns(char *out, size_t size, unsigned int exp)
{
	char digits[24], frac[10];
	int n, int_len, frac_len = 9;

	n = snprintf(digits, sizeof(digits), "%llu", 1ULL << (exp > 63 ? 63 : exp));
	/* Nanoseconds to seconds: the last nine digits are the fraction. */
	int_len = n > 9 ? n - 9 : 0;
	if (n >= 9) {
		memcpy(frac, digits + int_len, 9);
	} else {
		memset(frac, '0', (size_t)(9 - n));
		memcpy(frac + 9 - n, digits, (size_t)n);
	}
	while (frac_len > 0 && frac[frac_len - 1] == '0')
		frac_len--;
	frac[frac_len] = 0;
	snprintf(out, size, "%.*s%s%s", int_len ? int_len : 1, int_len ? digits : "0",
		 frac_len ? "." : "", frac);
}

void expo_pow2_ns_bounds(struct expo_bounds *b, unsigned int min_exp, size_t n)
{
	for (size_t i = 0; i < n && i < EXPO_MAX_BOUNDS; i++) {
		expo_format_pow2_ns(b->text[i], sizeof(b->text[i]), min_exp + (unsigned int)i);
		b->le[i] = b->text[i];
	}
}

void expo_family(struct expo *e, const char *name, const char *type, const char *help)
{
	size_t len = strlen(name);
	bool om = e->format == EXPO_OPENMETRICS;

	e->family = name;
	e->counter = !strcmp(type, "counter");
	e->created = 0;
	e->base_len = len;
	if (e->counter && len > 6 && !strcmp(name + len - 6, "_total"))
		e->base_len = len - 6;
	/* OpenMetrics names a counter's family without the _total of its samples. */
	buf_puts(e->out, "# HELP ");
	buf_append(e->out, name, om ? e->base_len : len);
	buf_putc(e->out, ' ');
	escape(e->out, help, om); /* OpenMetrics escapes a quote in help text too */
	buf_puts(e->out, "\n# TYPE ");
	buf_append(e->out, name, om ? e->base_len : len);
	buf_putc(e->out, ' ');
	buf_puts(e->out, type);
	buf_putc(e->out, '\n');
}

void expo_created(struct expo *e, double unix_seconds)
{
	e->created = unix_seconds;
}

void expo_finish(struct expo *e)
{
	if (e->format == EXPO_OPENMETRICS)
		buf_puts(e->out, "# EOF\n");
}

/* Decimal digits of v, at the end of out[20]; returns where they start. */
static char *u64_digits(char out[20], uint64_t v)
{
	char *p = out + 20;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

static void put_u64_line(struct buf *b, uint64_t v)
{
	char digits[21], *p = u64_digits(digits, v);

	digits[20] = '\n';
	buf_append(b, p, (size_t)(digits + 21 - p));
}

/* name="value",... of the labels, escaped. */
static void put_labels(struct buf *b, const struct label *labels, size_t n_labels)
{
	for (size_t i = 0; i < n_labels; i++) {
		if (i)
			buf_putc(b, ',');
		buf_puts(b, labels[i].name);
		buf_append(b, "=\"", 2);
		expo_escape_label_value(b, labels[i].value);
		buf_putc(b, '"');
	}
}

/* {labels} followed by a space; only the space without labels. */
static void put_braced_labels(struct buf *b, const struct label *labels, size_t n_labels)
{
	if (n_labels) {
		buf_putc(b, '{');
		put_labels(b, labels, n_labels);
		buf_putc(b, '}');
	}
	buf_putc(b, ' ');
}

/* family+suffix{labels} followed by a space. */
static void put_series(struct expo *e, const char *suffix, const struct label *labels,
		       size_t n_labels)
{
	buf_puts(e->out, e->family);
	buf_puts(e->out, suffix);
	/* OpenMetrics: a counter's samples end in _total, whatever the family's name. */
	if (e->counter && e->base_len == strlen(e->family) && e->format == EXPO_OPENMETRICS)
		buf_puts(e->out, "_total");
	put_braced_labels(e->out, labels, n_labels);
}

/* OpenMetrics' family_created{labels} <expo_created's time>, after a counter's or a
 * histogram's samples: rare (the agent's own families), so the labels are escaped again. */
static void put_created(struct expo *e, const struct label *labels, size_t n_labels)
{
	if (e->format != EXPO_OPENMETRICS || e->created <= 0)
		return;
	buf_append(e->out, e->family, e->base_len);
	buf_puts(e->out, "_created");
	put_braced_labels(e->out, labels, n_labels);
	expo_format_f64(e->out, e->created);
	buf_putc(e->out, '\n');
}

void expo_u64(struct expo *e, const struct label *labels, size_t n_labels, uint64_t value)
{
	put_series(e, "", labels, n_labels);
	put_u64_line(e->out, value);
	if (e->counter)
		put_created(e, labels, n_labels);
}

void expo_f64(struct expo *e, const struct label *labels, size_t n_labels, double value)
{
	put_series(e, "", labels, n_labels);
	expo_format_f64(e->out, value);
	buf_putc(e->out, '\n');
	if (e->counter)
		put_created(e, labels, n_labels);
}

/* The labels are escaped once, into the first bucket's line, and copied from there into
 * every other line of the histogram: a histogram of 28 buckets costs one escaping. */
void expo_histogram(struct expo *e, const struct label *labels, size_t n_labels,
		    const struct expo_hist *h)
{
	struct buf *b = e->out;
	size_t family_len = strlen(e->family), lab_off, lab_len;
	uint64_t cumulative = 0;

	buf_puts(b, e->family);
	buf_append(b, "_bucket{", 8);
	lab_off = b->len;
	put_labels(b, labels, n_labels);
	lab_len = b->len - lab_off;
	if (b->failed)
		return;
	for (size_t i = 0; i < h->n_buckets; i++) {
		const char *le = i + 1 < h->n_buckets ? h->le[i] : "+Inf";
		size_t le_len = strlen(le);
		char digits[20], *d;

		cumulative += h->counts[i];
		d = u64_digits(digits, cumulative);
		if (i) {
			/* family_bucket{ + labels, copied from the first line */
			if (!buf_reserve(b, family_len + 8 + lab_len))
				return;
			memcpy(b->data + b->len, e->family, family_len);
			memcpy(b->data + b->len + family_len, "_bucket{", 8);
			memcpy(b->data + b->len + family_len + 8, b->data + lab_off, lab_len);
			b->len += family_len + 8 + lab_len;
		}
		if (!buf_reserve(b, 1 + 4 + le_len + 3 + 20 + 1))
			return;
		if (lab_len)
			b->data[b->len++] = ',';
		memcpy(b->data + b->len, "le=\"", 4);
		memcpy(b->data + b->len + 4, le, le_len);
		memcpy(b->data + b->len + 4 + le_len, "\"} ", 3);
		b->len += 4 + le_len + 3;
		memcpy(b->data + b->len, d, (size_t)(digits + 20 - d));
		b->len += (size_t)(digits + 20 - d);
		b->data[b->len++] = '\n';
		b->data[b->len] = 0;
	}
	/* _sum and _count, with the same labels */
	for (int k = 0; k < 2; k++) {
		const char *suffix = k ? "_count" : "_sum";

		if (!buf_reserve(b, family_len + 6 + 1 + lab_len + 2))
			return;
		memcpy(b->data + b->len, e->family, family_len);
		b->len += family_len;
		memcpy(b->data + b->len, suffix, strlen(suffix));
		b->len += strlen(suffix);
		if (lab_len) {
			b->data[b->len++] = '{';
			memcpy(b->data + b->len, b->data + lab_off, lab_len);
			b->len += lab_len;
			b->data[b->len++] = '}';
		}
		b->data[b->len++] = ' ';
		b->data[b->len] = 0;
		if (k) {
			put_u64_line(b, cumulative);
		} else {
			expo_format_f64(b, h->sum);
			buf_putc(b, '\n');
		}
	}
	put_created(e, labels, n_labels);
}
