/*
 * limits.h — every limit the protocol sets, once, with where it comes from.
 *
 * The limits on a mailbox's parts are defined in storage/mailbox.h, because a
 * state file is held to them as a request is; they are named here so that
 * the protocol reads all its limits from one place. The store narrows each
 * length into a fixed-width field without checking it again (its capacity,
 * storage/store.h): the assertions below fail the build when a limit grows
 * past the field that keeps it.
 */
#ifndef PROTOCOL_LIMITS_H
#define PROTOCOL_LIMITS_H

#include "storage/mailbox.h"
#include "storage/store.h"

/* A limit as text, for the fixed messages that state it. */
#define LIMITS_TEXT_(x) #x
#define LIMITS_TEXT(x) LIMITS_TEXT_(x)

/* The request line and headers together: 431 beyond (spec 4.7 and 10). */
#define LIMITS_HEAD_KIB 8
#define LIMITS_HEAD_MAX (LIMITS_HEAD_KIB * 1024)

/* Mailbox-Device-Attestation, in bytes: 400 beyond (spec 3). */
#define LIMITS_ATTESTATION_MAX 4096

/* Mailbox-Request-ID, in visible ASCII characters (spec 3). */
#define LIMITS_REQUEST_ID_MAX STORE_REQUEST_ID_MAX

/* CreateMailbox's members, in characters (spec 4.1). */
#define LIMITS_PAYLOAD_TYPE_MAX MAILBOX_PAYLOAD_TYPE_MAX
#define LIMITS_TITLE_MAX MAILBOX_TITLE_MAX
#define LIMITS_DESCRIPTION_MAX MAILBOX_DESCRIPTION_MAX
#define LIMITS_IMAGE_URL_MAX MAILBOX_IMAGE_URL_MAX
#define LIMITS_TOKEN_TYPE_MAX MAILBOX_TOKEN_TYPE_MAX
#define LIMITS_TOKEN_DATA_MAX MAILBOX_TOKEN_DATA_MAX

/* How far past now + --max-ttl an expiration may lie, in seconds, and be
 * clamped to it rather than refused: phone clocks run a little fast
 * (spec 4.1). */
#define LIMITS_EXPIRATION_GRACE 300

/* gorush's numbers for the platforms it pushes to (its API, not ours). */
#define LIMITS_PUSH_PLATFORM_IOS 1
#define LIMITS_PUSH_PLATFORM_ANDROID 2

/* The most bytes one character takes in UTF-8 (RFC 3629). */
#define LIMITS_UTF8_CHAR_MAX 4

/* A payload type and a request ID are ASCII: a byte a character. */
_Static_assert(LIMITS_PAYLOAD_TYPE_MAX <= STORE_PAYLOAD_TYPE_CAP,
    "payload.type must fit mailbox_payload.type_len");
_Static_assert(LIMITS_REQUEST_ID_MAX <= STORE_REQUEST_ID_CAP,
    "Mailbox-Request-ID must fit store_record.request_id_len");
_Static_assert(LIMITS_TITLE_MAX * LIMITS_UTF8_CHAR_MAX <= STORE_TITLE_CAP,
    "displayInformation.title must fit mailbox_display.title_len");
_Static_assert(LIMITS_DESCRIPTION_MAX * LIMITS_UTF8_CHAR_MAX <= STORE_DESCRIPTION_CAP,
    "displayInformation.description must fit mailbox_display.description_len");
_Static_assert(LIMITS_IMAGE_URL_MAX * LIMITS_UTF8_CHAR_MAX <= STORE_IMAGE_URL_CAP,
    "displayInformation.imageURL must fit mailbox_display.image_url_len");
_Static_assert(LIMITS_TOKEN_TYPE_MAX * LIMITS_UTF8_CHAR_MAX <= STORE_TOKEN_TYPE_CAP,
    "notificationToken.type must fit mailbox_token.type_len");
_Static_assert(LIMITS_TOKEN_DATA_MAX * LIMITS_UTF8_CHAR_MAX <= STORE_TOKEN_DATA_CAP,
    "notificationToken.tokenData must fit mailbox_token.data_len");

#endif
