/* check.h - the assertions of the unit tests. CHECK(cond, fmt, ...) names
 * what holds: prints "ok   message" or "FAIL file:line: message".
 * EXPECT(cond, fmt, ...) describes the failure: prints only when cond is
 * false. Both count failures; main returns check_status(). */
#ifndef PRESTO_CHECK_H
#define PRESTO_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		int ok_ = !!(cond);                                              \
		if (ok_)                                                         \
			printf("ok   ");                                         \
		else                                                             \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);              \
		printf(__VA_ARGS__);                                             \
		putchar('\n');                                                   \
		if (!ok_)                                                        \
			failures++;                                              \
	} while (0)

#define EXPECT(cond, ...)                                                        \
	do {                                                                     \
		if (!(cond)) {                                                   \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);              \
			printf(__VA_ARGS__);                                     \
			putchar('\n');                                          \
			failures++;                                              \
		}                                                                \
	} while (0)

static inline int check_status(void)
{
	printf("%s: %d failure%s\n", failures ? "FAILED" : "passed", failures, failures == 1 ? "" : "s");
	return failures ? 1 : 0;
}

#endif
