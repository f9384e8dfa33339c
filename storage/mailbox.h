/*
 * mailbox.h — the rules every mailbox keeps, whoever hands it to the store.
 *
 * A mailbox reaches the store from two places: the API (protocol/body.c,
 * protocol/api.c), which checks a device's request, and the state file
 * (storage/snapshot.c), which anyone able to write that file could have
 * forged. Both call these checks, so a rule of the spec (sections 3, 4.1 and
 * 10) is written once and a file can hold nothing a device could not have
 * sent. Lengths in characters count Unicode code points of valid UTF-8
 * without NUL, which is what jansson hands the API; data lengths are in
 * decoded bytes, as the store keeps them.
 *
 * Every check is a pure function: 0 when the value keeps the rule, -1 when
 * it breaks it.
 */
#ifndef STORAGE_MAILBOX_H
#define STORAGE_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

/* The spec's limits on a mailbox's parts (sections 4.1 and 10), in
 * characters. They are defined here, below the protocol, because a state
 * file is held to them too; protocol/limits.h names them for the API and
 * asserts that each fits the store field that keeps it. */
#define MAILBOX_PAYLOAD_TYPE_MAX 64
#define MAILBOX_TITLE_MAX 256
#define MAILBOX_DESCRIPTION_MAX 1024
#define MAILBOX_IMAGE_URL_MAX 2048
#define MAILBOX_TOKEN_TYPE_MAX 128
#define MAILBOX_TOKEN_DATA_MAX 4096

/* The shape of the field checks, so a caller can hand one on. */
typedef int (*mailbox_check_fn)(const char *s, size_t len);

/* 1 to MAILBOX_PAYLOAD_TYPE_MAX characters of [A-Za-z0-9_.-]. */
int mailbox_check_payload_type(const char *s, size_t len);
/* Decoded data of data_len bytes for this type: never empty, and for the
 * AEAD_AES_*_GCM types long enough for a 96-bit IV and a 128-bit tag. */
int mailbox_check_payload_size(const char *type, size_t type_len, size_t data_len);
/* displayInformation: a title of 1 to MAILBOX_TITLE_MAX characters, a
 * description of up to MAILBOX_DESCRIPTION_MAX, and an https:// imageURL of
 * at most MAILBOX_IMAGE_URL_MAX. */
int mailbox_check_title(const char *s, size_t len);
int mailbox_check_description(const char *s, size_t len);
int mailbox_check_image_url(const char *s, size_t len);
/* notificationToken: 1 to MAILBOX_TOKEN_TYPE_MAX characters of type, 1 to
 * MAILBOX_TOKEN_DATA_MAX of tokenData. */
int mailbox_check_token_type(const char *s, size_t len);
int mailbox_check_token_data(const char *s, size_t len);
/* What the Receiver may do: a non-empty set of enum mailbox_right bits. */
int mailbox_check_rights(uint8_t rights);
/* A Mailbox-Request-ID: 1 to STORE_REQUEST_ID_MAX visible ASCII
 * characters. */
int mailbox_check_request_id(const char *s, size_t len);

#endif
