/* common.h - what every presto-* tool shares: messages, exit codes, option
 * parsing with generated --help/--version, input and atomic output files,
 * progress on a terminal.
 *
 * Conventions (presto tools follow them; tests/cli checks them):
 *  - Messages go to stderr as "presto-xxx: message"; stdout carries only the
 *    tool's output (a stream, a report), never diagnostics.
 *  - Exit status: 0 success, 1 usage error (bad option or argument; nothing
 *    was done), 2 runtime error (bad input, I/O, model, out of memory).
 *  - On failure stdout stays empty where the tool can arrange it (reports are
 *    buffered and written at the end); a stream producer that fails
 *    part-way never writes the end record, so the consumer fails too.
 *  - Output files are written atomically: to a temp file next to the target,
 *    renamed over it on success; a failure or a signal leaves nothing.
 *  - --help (stdout, exit 0) lists every option, --version prints
 *    "presto-xxx 0.1.0"; both are added by presto_cli_next.
 *
 * A tool's main looks like:
 *
 *	enum { OPT_JSON = 256 };
 *	static const presto_cli_option opts[] = {
 *		{"output", 'o', "FILE", "write to FILE instead of stdout"},
 *		{"json", OPT_JSON, NULL, "machine-readable output"},
 *		{0},
 *	};
 *	static const presto_cli_spec spec = {"presto-xxx", "[OPTION]... [FILE]",
 *		"One-line description.", opts, "Extra text after the options.\n"};
 *
 *	int main(int argc, char **argv)
 *	{
 *		presto_cli cli;
 *		const char *arg;
 *		int c;
 *		presto_cli_init(&cli, &spec, argc, argv);
 *		while ((c = presto_cli_next(&cli, &arg)) != PRESTO_CLI_END) {
 *			switch (c) {
 *			case PRESTO_CLI_EXIT: return cli.exit_code;  // --help, --version, bad option
 *			case 'o': out = arg; break;
 *			case OPT_JSON: json = 1; break;
 *			}
 *		}
 *		argv + cli.optind ... (operands)
 *		if (st) return presto_cli_status(st);         // prints presto_error(), returns 2
 *	}
 */
#ifndef PRESTO_COMMON_H
#define PRESTO_COMMON_H

#include <stdio.h>

#include "error.h"

#define PRESTO_EXIT_OK 0
#define PRESTO_EXIT_USAGE 1
#define PRESTO_EXIT_RUNTIME 2

typedef struct {
	const char *name; /* long name without "--" */
	int key;          /* a letter: also the short option -x; >= 256: long only */
	const char *arg;  /* placeholder of a required argument ("FILE"), NULL for a flag */
	const char *help; /* one line */
} presto_cli_option;

typedef struct {
	const char *prog;                /* "presto-info" */
	const char *usage;               /* "[OPTION]... [FILE]" */
	const char *summary;             /* one line */
	const presto_cli_option *opts;   /* ends with {0}; --help and --version are added */
	const char *footer;              /* printed after the options (may be NULL) */
} presto_cli_spec;

enum { PRESTO_CLI_END = -1, PRESTO_CLI_EXIT = -2 };

typedef struct {
	const presto_cli_spec *spec;
	int argc;
	char **argv;
	int optind;     /* first operand once presto_cli_next returned PRESTO_CLI_END */
	int exit_code;  /* valid when presto_cli_next returned PRESTO_CLI_EXIT */
	void *priv;     /* getopt_long tables */
} presto_cli;

/* Set the program name for messages, ignore SIGPIPE (a closed pipe becomes a
 * reported EPIPE write error, exit 2) and arrange for temp output files to
 * be removed on SIGINT/SIGTERM/SIGHUP. */
void presto_cli_init(presto_cli *cli, const presto_cli_spec *spec, int argc, char **argv);
/* Next option: its key (with *arg set for options taking an argument),
 * PRESTO_CLI_END when only operands remain (cli->optind), or PRESTO_CLI_EXIT
 * after --help / --version (printed to stdout, exit_code 0) or a usage error
 * (message printed, exit_code 1). Frees its tables at END/EXIT. */
int presto_cli_next(presto_cli *cli, const char **arg);
/* Print --help text to f. */
void presto_cli_help(const presto_cli_spec *spec, FILE *f);

const char *presto_progname(void);

/* "prog: message" on stderr. */
void presto_cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: warning: message" on stderr. */
void presto_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: message" and return PRESTO_EXIT_RUNTIME (2). */
int presto_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: <presto_error()>" and return 2 (0 for PRESTO_OK). */
int presto_cli_status(presto_status st);
/* --device DEV (or $PRESTO_DEVICE when dev is NULL) and --precision P (NULL:
 * auto) into *r; returns 0, or prints the usage error and returns
 * PRESTO_EXIT_USAGE. */
struct presto_device_req;
int presto_cli_device(const char *dev, const char *precision, struct presto_device_req *r);
/* After a model was put on its device: print accel's note, if any. */
void presto_cli_device_note(const char *note);

/* Print "prog: message" and the --help hint, return PRESTO_EXIT_USAGE (1). */
int presto_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict number parsing of option values: the whole string, in [min, max].
 * On failure print a usage message naming the option ("--steps: 'x' is not
 * an integer") and return 0; 1 on success. */
int presto_cli_int(const char *opt, const char *s, long long min, long long max, long long *out);
int presto_cli_double(const char *opt, const char *s, double min, double max, double *out);

/* Input: NULL or "-" is stdin (label "stdin"), else the file opened for
 * reading ("cannot open 'x': No such file or directory" -> PRESTO_EIO). */
presto_status presto_input_open(const char *path, FILE **f, const char **label);
void presto_input_close(FILE *f); /* leaves stdin open */

/* Output to a file (atomic) or stdout. */
typedef struct {
	FILE *f;          /* write here */
	char *path;       /* target; NULL for stdout */
	char *tmp;        /* temp file next to it */
	const char *label;/* "stdout" or the path, for messages */
} presto_output;

/* path NULL or "-": stdout (binary: refused with an error when stdout is a
 * terminal). Otherwise a temp file ".NAME.XXXXXX" in the target's directory,
 * created with the permissions a new file would get. */
presto_status presto_output_open(presto_output *o, const char *path, int binary);
/* Flush, check for write errors, fsync and rename over the target (a file),
 * or flush stdout. The output is closed either way. */
presto_status presto_output_commit(presto_output *o);
/* Close and remove the temp file (stdout: just flush). Safe after commit. */
void presto_output_abort(presto_output *o);

struct presto_stream_writer;
/* The end of a tool that writes a stream: after st (the work's status) is
 * OK, the stream's end marker and the commit of o; after any error, its
 * message and the abort of o (no partial output). Closes w. w and o may be
 * NULL (nothing of theirs to do). Returns the exit code. */
int presto_cli_finish_stream(presto_status st, struct presto_stream_writer *w, presto_output *o);

/* True when progress should be shown: stderr is a terminal and PRESTO_QUIET
 * is not set. */
int presto_cli_progress_enabled(void);
/* "\rprog: what done/total" on a terminal; a newline when done == total. */
void presto_cli_progress(const char *what, long done, long total);

#endif
