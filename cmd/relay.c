/*
 * relay.c — relay: a Secure Credential Transfer relay, and (as subcommands)
 * the device-side client.
 *
 * Exit status: 0 after SIGINT/SIGTERM (or --help, --version), 1 when the
 * relay cannot start, 2 for a bad command line.
 */
#include <stdio.h>
#include <string.h>

#include "client/client.h"
#include "server/config.h"
#include "server/server.h"

/* Did the command line ask for --help (before any --version)? */
static int main_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
		if (strcmp(argv[i], "--version") == 0)
			return 0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config config;
	struct server server;
	struct log log;
	int status = 0;

	/* `relay send …` and friends: the device side, in the same binary. */
	if (argc > 1 && client_is_command(argv[1]))
		return client_main(argc - 1, argv + 1);
	switch (config_parse(&config, argc, argv, stdout, stderr)) {
	case CONFIG_EXIT:
		/* The options are the relay's; the commands are the client's,
		 * so that the list is always the one client_main knows. */
		if (main_wants_help(argc, argv))
			client_print_commands(stdout);
		return 0;
	case CONFIG_USAGE:
		return 2;
	case CONFIG_RUN:
		break;
	}
	/* From here on the relay is a service: everything it says is a log
	 * line on stderr (spec 9's start-up lines too). Help, the version and
	 * command-line errors above answer whoever typed the command. */
	config_log(&config, &log);
	if (config_fit_descriptors(&config, &log, stderr) != 0)
		return 2;
	if (server_init(&server, &config) == 0) {
		/* After start, so that a start error stays one line. */
		config_warn(&config, &log);
		server_run(&server);
		status = server_finish(&server) == 0 ? 0 : 1;
	} else {
		status = 1;
	}
	server_free(&server);
	return status;
}
