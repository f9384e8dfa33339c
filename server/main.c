/*
 * main.c — relay: a Secure Credential Transfer relay.
 *
 * Exit status: 0 after SIGINT/SIGTERM (or --help, --version), 1 when the
 * relay cannot start, 2 for a bad command line.
 */
#include <stdio.h>

#include "server/config.h"
#include "server/server.h"

int main(int argc, char **argv)
{
	struct config config;
	struct server server;
	int status = 0;

	switch (config_parse(&config, argc, argv, stdout, stderr)) {
	case CONFIG_EXIT:
		return 0;
	case CONFIG_USAGE:
		return 2;
	case CONFIG_RUN:
		break;
	}
	if (server_init(&server, &config) == 0)
		server_run(&server);
	else
		status = 1;
	server_free(&server);
	return status;
}
