/*
 * ecp_alt.c — the step of mbedTLS's X25519 Montgomery ladder, done with
 * Everest's field arithmetic (MBEDTLS_ECP_DOUBLE_ADD_MXZ_ALT).
 *
 * Why: TLS 1.3 makes its key share through PSA, which computes the public
 * half with mbedtls_ecp_mul on generic bignums — half of a full TLS 1.3
 * handshake's CPU. Everest's X25519 serves only the legacy ECDH context
 * (TLS 1.2 and the shared secret), and PSA has no hook for it short of a
 * driver, whose dispatch code mbedTLS generates with Python at release
 * time. The ladder step is the one hook the release tarball has.
 *
 * What stays mbedTLS's: the ladder itself (constant-time swaps, the
 * randomized starting point, the final normalization). What is Everest's:
 * the step, formally verified, on its 5×51-bit limbs. What is ours: moving
 * four field elements in and out of mbedTLS's 4×64-bit limbs, with no
 * branch on their values.
 *
 * Built into build/mbedtls's libmbedcrypto.a with the library's own flags
 * (it includes Everest's source and mbedTLS's internal header), so that
 * everything linking the library gets it. Checked against RFC 7748's
 * vectors and Everest's own X25519 by test/unit/test_x25519.c.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include "common.h"

#if defined(MBEDTLS_ECP_DOUBLE_ADD_MXZ_ALT)

#include "mbedtls/ecp.h"
#include "mbedtls/bignum.h"
#include "ecp_internal_alt.h"

/* Everest's ladder step is static in the one file that also defines its
 * public X25519 function. We take the file in whole; the library's own
 * copy of that function stays the one callers reach, ours gets another
 * name. */
#define Hacl_Curve25519_crypto_scalarmult ecp_alt_hacl_scalarmult
#include "Hacl_Curve25519.c"

#define ECP_ALT_MASK51 0x7ffffffffffffULL

/* An mpi into Everest's five 51-bit limbs. mbedTLS's values here are below
 * 2^255 (a peer's u has bit 255 cleared when read, as RFC 7748 says; the
 * rest are reduced mod p): anything larger is refused, not truncated. */
static int ecp_alt_load(uint64_t out[5], const mbedtls_mpi *x)
{
    uint64_t a[4] = { 0, 0, 0, 0 }, high = 0;
    size_t i;

    for (i = 0; i < x->n; i++) {
        if (i < 4) {
            a[i] = x->p[i];
        } else {
            high |= x->p[i];
        }
    }
    if ((high | a[3] >> 63) != 0) {
        return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
    }
    out[0] = a[0] & ECP_ALT_MASK51;
    out[1] = (a[0] >> 51 | a[1] << 13) & ECP_ALT_MASK51;
    out[2] = (a[1] >> 38 | a[2] << 26) & ECP_ALT_MASK51;
    out[3] = (a[2] >> 25 | a[3] << 39) & ECP_ALT_MASK51;
    out[4] = a[3] >> 12;
    return 0;
}

/* Five limbs as Everest leaves them into a fully reduced mpi of 4 limbs:
 * Everest's own constant-time carries and trim, then packing. */
static int ecp_alt_store(mbedtls_mpi *x, uint64_t in[5])
{
    size_t i;
    int ret;

    Hacl_EC_Format_fcontract_first_carry_full(in);
    Hacl_EC_Format_fcontract_second_carry_full(in);
    Hacl_EC_Format_fcontract_trim(in);
    if ((ret = mbedtls_mpi_grow(x, 4)) != 0) {
        return ret;
    }
    x->s = 1;
    x->p[0] = in[1] << 51 | in[0];
    x->p[1] = in[2] << 38 | in[1] >> 13;
    x->p[2] = in[3] << 25 | in[2] >> 26;
    x->p[3] = in[4] << 12 | in[3] >> 39;
    for (i = 4; i < x->n; i++) {
        x->p[i] = 0;
    }
    return 0;
}

unsigned char mbedtls_internal_ecp_grp_capable(const mbedtls_ecp_group *grp)
{
    return grp->id == MBEDTLS_ECP_DP_CURVE25519;
}

int mbedtls_internal_ecp_init(const mbedtls_ecp_group *grp)
{
    (void) grp;
    return 0;
}

void mbedtls_internal_ecp_free(const mbedtls_ecp_group *grp)
{
    (void) grp;
}

/* R = 2P, S = P + Q, with d = X(P - Q); R may be P and S may be Q. */
int mbedtls_internal_ecp_double_add_mxz(const mbedtls_ecp_group *grp,
                                        mbedtls_ecp_point *R,
                                        mbedtls_ecp_point *S,
                                        const mbedtls_ecp_point *P,
                                        const mbedtls_ecp_point *Q,
                                        const mbedtls_mpi *d)
{
    uint64_t p[10], q[10], diff[5], r[10], s[10];
    int ret;

    (void) grp;
    if ((ret = ecp_alt_load(p, &P->X)) != 0 ||
        (ret = ecp_alt_load(p + 5, &P->Z)) != 0 ||
        (ret = ecp_alt_load(q, &Q->X)) != 0 ||
        (ret = ecp_alt_load(q + 5, &Q->Z)) != 0 ||
        (ret = ecp_alt_load(diff, d)) != 0) {
        goto done;
    }
    Hacl_EC_AddAndDouble_fmonty(r, s, p, q, diff);
    if ((ret = ecp_alt_store(&R->X, r)) == 0 &&
        (ret = ecp_alt_store(&R->Z, r + 5)) == 0 &&
        (ret = ecp_alt_store(&S->X, s)) == 0) {
        ret = ecp_alt_store(&S->Z, s + 5);
    }
done:
    /* Intermediate values of a secret scalar's ladder. */
    mbedtls_platform_zeroize(p, sizeof(p));
    mbedtls_platform_zeroize(q, sizeof(q));
    mbedtls_platform_zeroize(r, sizeof(r));
    mbedtls_platform_zeroize(s, sizeof(s));
    return ret;
}

#endif /* MBEDTLS_ECP_DOUBLE_ADD_MXZ_ALT */
