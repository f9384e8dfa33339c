/*
 * check.h — the smallest test harness that does the job.
 *
 * A unit test file defines test functions and lists them in main() with
 * CHECK_RUN(). CHECK() records a failure with file and line and carries on, so
 * one run shows every broken assertion. The last line printed is the summary
 * "N passed, M failed" that test/run.py adds up.
 */
#ifndef TEST_CHECK_H
#define TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures_in_test;
static int check_passed, check_failed;

#define CHECK(cond) do { \
	if (!(cond)) { \
		check_failures_in_test++; \
		printf("    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
	long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
	if (check_a_ != check_b_) { \
		check_failures_in_test++; \
		printf("    %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
		    #a, check_a_, #b, check_b_); \
	} \
} while (0)

#define CHECK_EQ_STR(a, b) do { \
	const char *check_a_ = (a), *check_b_ = (b); \
	if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) { \
		check_failures_in_test++; \
		printf("    %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
		    #a, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
	} \
} while (0)

#define CHECK_RUN(fn) do { \
	check_failures_in_test = 0; \
	fn(); \
	if (check_failures_in_test == 0) { check_passed++; printf("ok   %s\n", #fn); } \
	else { check_failed++; printf("FAIL %s\n", #fn); } \
} while (0)

#define CHECK_SUMMARY() (printf("%d passed, %d failed\n", check_passed, check_failed), \
	check_failed != 0)

#endif
