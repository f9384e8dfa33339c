/*
 * replay.c — run a fuzz target over its seed corpus and saved crashes, as a
 * unit test.
 *
 *   fuzz_<target> [FILE | DIR]...
 *
 * Without arguments it reads every file of test/fuzz/corpus/<target>/ and
 * test/fuzz/regressions/<target>/ (FUZZ_TARGET and FUZZ_DIR are given at
 * compile time), in name order. Each file runs in a child process of its own,
 * so that one crash or failed invariant marks that file and the rest still
 * run. Output follows test/unit/check.h: "ok   <file>" or "FAIL <file>" per
 * file, then "N passed, M failed"; test/run.py adds these up.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/fuzz/fuzz.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=\"name\""
#endif
#ifndef FUZZ_DIR
#define FUZZ_DIR "test/fuzz"
#endif

static int replay_passed, replay_failed;

static void replay_result(const char *name, int ok, const char *why)
{
	if (ok) {
		replay_passed++;
		printf("ok   %s\n", name);
	} else {
		replay_failed++;
		printf("FAIL %s%s%s\n", name, why ? ": " : "", why ? why : "");
	}
	fflush(stdout);
}

static int replay_read(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL)
		return -1;
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			uint8_t *grown = realloc(buf, cap + 65536);

			if (grown == NULL) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = grown;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	*data = buf;
	*size = len;
	return 0;
}

/* One input, in a child: the invariants abort, sanitizers exit non-zero. */
static void replay_file(const char *path, const char *name)
{
	uint8_t *data;
	size_t size;
	char why[64];
	pid_t pid;
	int status;

	if (replay_read(path, &data, &size) != 0) {
		replay_result(name, 0, "cannot read the file");
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		free(data);
		replay_result(name, 0, "fork failed");
		return;
	}
	if (pid == 0) {
		/* An exact copy, so that reading one byte too far is caught. */
		uint8_t *copy = malloc(size ? size : 1);

		if (copy == NULL)
			_exit(2);
		if (size)
			memcpy(copy, data, size);
		free(data);
		LLVMFuzzerTestOneInput(copy, size);
		free(copy);
		exit(0);    /* not _exit: LeakSanitizer runs at exit */
	}
	free(data);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			replay_result(name, 0, "waitpid failed");
			return;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		replay_result(name, 1, NULL);
		return;
	}
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
	replay_result(name, 0, why);
}

static int replay_by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir whose name does not start with a dot; label is
 * how the files are named in the output. */
static void replay_dir(const char *dir, const char *label, int required)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t count = 0, cap = 0;

	if (d == NULL) {
		if (required)
			replay_result(label, 0, "no such directory");
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (count == cap) {
			char **grown = realloc(names, (cap + 64) * sizeof(*names));

			if (grown == NULL)
				break;
			names = grown;
			cap += 64;
		}
		names[count] = strdup(e->d_name);
		if (names[count] != NULL)
			count++;
	}
	closedir(d);
	qsort(names, count, sizeof(*names), replay_by_name);
	for (size_t i = 0; i < count; i++) {
		char path[4096], name[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(name, sizeof(name), "%s/%s", label, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			replay_file(path, name);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			struct stat st;

			if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
				replay_dir(argv[i], argv[i], 1);
			else
				replay_file(argv[i], argv[i]);
		}
	} else {
		replay_dir(FUZZ_DIR "/corpus/" FUZZ_TARGET, "corpus/" FUZZ_TARGET, 1);
		replay_dir(FUZZ_DIR "/regressions/" FUZZ_TARGET, "regressions/" FUZZ_TARGET, 0);
	}
	printf("%d passed, %d failed\n", replay_passed, replay_failed);
	return replay_failed != 0;
}
