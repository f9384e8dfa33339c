/*
 * fuzz.h — what the fuzz targets share.
 *
 * Each target is one file that defines LLVMFuzzerTestOneInput(). Built with
 * clang and -fsanitize=fuzzer it is a libFuzzer binary (make fuzz); built
 * with the normal compiler and linked with replay.c it replays the seed
 * corpus and every saved crash as part of make test (and make check, under
 * ASan and UBSan).
 *
 * A target states what must hold with FUZZ_CHECK(). A violated check names
 * itself on stderr and aborts, which libFuzzer reports as a crash and saves
 * the input for; the replay binary reports the file as failed.
 */
#ifndef TEST_FUZZ_FUZZ_H
#define TEST_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, what) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant violated: %s (%s)\n", __FILE__, __LINE__, \
		    (what), #cond); \
		abort(); \
	} \
} while (0)

/* Manual poisoning, so that reading the unused tail of a buffer is caught as
 * surely as reading past its end. A no-op without AddressSanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif

#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define FUZZ_POISON(addr, size) __asan_poison_memory_region((addr), (size))
#define FUZZ_UNPOISON(addr, size) __asan_unpoison_memory_region((addr), (size))
#else
#define FUZZ_POISON(addr, size) ((void)(addr), (void)(size))
#define FUZZ_UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

/* Where needle occurs in haystack, or NULL. Bytes compared exactly (nocase
 * 0) or with ASCII letters folded (nocase 1). Written out rather than with
 * memmem or strcasestr: libFuzzer watches those and would learn the needle,
 * which for a check such as "the message repeats nothing of the input"
 * teaches the fuzzer to copy the message into its input. */
static inline const char *fuzz_find(const char *haystack, size_t haystack_len,
    const char *needle, size_t needle_len, int nocase)
{
	if (needle_len == 0)
		return haystack;
	for (size_t i = 0; i + needle_len <= haystack_len; i++) {
		size_t j = 0;

		if (!nocase) {
			const char *at = memchr(haystack + i, needle[0], haystack_len - needle_len + 1 - i);

			if (at == NULL)
				return NULL;
			i = (size_t)(at - haystack);
		}
		for (; j < needle_len; j++) {
			unsigned char a = (unsigned char)haystack[i + j];
			unsigned char b = (unsigned char)needle[j];

			if (nocase) {
				if (a >= 'A' && a <= 'Z')
					a = (unsigned char)(a - 'A' + 'a');
				if (b >= 'A' && b <= 'Z')
					b = (unsigned char)(b - 'A' + 'a');
			}
			if (a != b)
				break;
		}
		if (j == needle_len)
			return haystack + i;
	}
	return NULL;
}

#endif
