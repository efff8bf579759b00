/* Prometheus text exposition writer: see expo.h. Format reference:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4). */
#include "expo.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void expo_init(struct expo *e, struct buf *out)
{
	e->out = out;
	e->family = NULL;
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

static void escape(struct buf *b, const char *value, bool quote)
{
	const unsigned char *s = (const unsigned char *)value;
	size_t n = strlen(value);

	while (n) {
		size_t len = utf8_seq_len(s, n);

		if (!len) {
			buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD REPLACEMENT CHARACTER */
			s++;
			n--;
			continue;
		}
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else if (*s == '"' && quote)
			buf_puts(b, "\\\"");
		else
			buf_append(b, s, len);
		s += len;
		n -= len;
	}
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
	e->family = name;
	buf_printf(e->out, "# HELP %s ", name);
	expo_escape_help(e->out, help);
	buf_printf(e->out, "\n# TYPE %s %s\n", name, type);
}

static void put_series(struct expo *e, const char *suffix, const struct label *labels,
		       size_t n_labels, const struct label *extra)
{
	bool first = true;

	buf_puts(e->out, e->family);
	buf_puts(e->out, suffix);
	if (!n_labels && !extra)
		goto done;
	buf_putc(e->out, '{');
	for (size_t i = 0; i <= n_labels; i++) {
		const struct label *l = i < n_labels ? &labels[i] : extra;

		if (!l)
			break;
		if (!first)
			buf_putc(e->out, ',');
		first = false;
		buf_puts(e->out, l->name);
		buf_puts(e->out, "=\"");
		expo_escape_label_value(e->out, l->value);
		buf_putc(e->out, '"');
	}
	buf_putc(e->out, '}');
done:
	buf_putc(e->out, ' ');
}

void expo_u64(struct expo *e, const struct label *labels, size_t n_labels, uint64_t value)
{
	put_series(e, "", labels, n_labels, NULL);
	buf_printf(e->out, "%llu\n", (unsigned long long)value);
}

void expo_f64(struct expo *e, const struct label *labels, size_t n_labels, double value)
{
	put_series(e, "", labels, n_labels, NULL);
	expo_format_f64(e->out, value);
	buf_putc(e->out, '\n');
}

void expo_histogram(struct expo *e, const struct label *labels, size_t n_labels,
		    const struct expo_hist *h)
{
	struct label le = { "le", NULL };
	uint64_t cumulative = 0;

	for (size_t i = 0; i < h->n_buckets; i++) {
		cumulative += h->counts[i];
		if (i + 1 == h->n_buckets)
			break;
		le.value = h->le[i];
		put_series(e, "_bucket", labels, n_labels, &le);
		buf_printf(e->out, "%llu\n", (unsigned long long)cumulative);
	}
	le.value = "+Inf";
	put_series(e, "_bucket", labels, n_labels, &le);
	buf_printf(e->out, "%llu\n", (unsigned long long)cumulative);
	put_series(e, "_sum", labels, n_labels, NULL);
	expo_format_f64(e->out, h->sum);
	buf_putc(e->out, '\n');
	put_series(e, "_count", labels, n_labels, NULL);
	buf_printf(e->out, "%llu\n", (unsigned long long)cumulative);
}
