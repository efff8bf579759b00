/* Writing parsed values back as YAML, for the round-trip checks of the fuzz targets whose
 * input is YAML (fuzz_webconfig, fuzz_kubeconfig): a double-quoted scalar that libyaml
 * reads back byte for byte. The input is valid UTF-8 (libyaml checks it on the way in).
 * Not for YAML in the agent itself. */
#ifndef CTRLSCOPE_FUZZ_YAML_QUOTE_H
#define CTRLSCOPE_FUZZ_YAML_QUOTE_H

#include <stdint.h>
#include <stdio.h>

static inline size_t yq_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] < 0xe0) {
		*cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (s[0] < 0xf0) {
		*cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		return 3;
	}
	*cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
	      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
	return 4;
}

/* Raw characters only where YAML reads them back unchanged: printable, and not a line
 * break (NEL, LS, PS fold like '\n'); everything else as an escape. */
static inline void yq_put(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		uint32_t cp;
		size_t len = yq_utf8_decode(p, &cp);

		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if ((cp >= 0x20 && cp < 0x7f) ||
			 (cp >= 0xa0 && cp <= 0xd7ff && cp != 0x2028 && cp != 0x2029) ||
			 (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || cp >= 0x10000)
			fwrite(p, 1, len, f);
		else if (cp <= 0xff)
			fprintf(f, "\\x%02x", (unsigned int)cp);
		else
			fprintf(f, "\\u%04x", (unsigned int)cp);
		p += len;
	}
	fputc('"', f);
}

#endif
