/*
 * client.h — `relay send`, `receive`, `reply`, `watch`, `delete`,
 * `relinquish`, `preview`: the device side of the protocol, as subcommands of
 * the relay binary, and the reference other implementations can check
 * themselves against.
 */
#ifndef CLIENT_CLIENT_H
#define CLIENT_CLIENT_H

#include <stdio.h>

/* Exit statuses, listed by `relay help`. */
enum client_exit {
	CLIENT_OK = 0,
	CLIENT_DECRYPTION_FAILED = 1,
	CLIENT_USAGE = 2,
	CLIENT_BAD_SHARE_URL = 3,
	CLIENT_UNREACHABLE = 4,
	CLIENT_UNTRUSTED = 5,
	CLIENT_NOT_FOUND = 6,
	CLIENT_BOUND_ELSEWHERE = 7,
	CLIENT_REFUSED = 8,
	CLIENT_LOCAL_FILE = 9,
	CLIENT_CONFLICT = 10    /* reply: the other side wrote first; nothing sent */
};

/* Is argv[1] meant as a subcommand (known or not)? */
int client_is_command(const char *name);
/* One line naming every subcommand, for the relay's --help. */
void client_print_commands(FILE *out);
/* Run a subcommand: argv[0] is its name. Returns the exit status. */
int client_main(int argc, char **argv);

#endif
