/*
 * test_x25519.c — mbedTLS's X25519 ladder with the relay's step
 * (net/mbedtls/ecp_alt.c) gives X25519's answers.
 *
 * Through both of mbedTLS's paths into the ladder: mbedtls_ecp_mul, and
 * PSA's public-key export, which is how TLS 1.3 makes its key share. The
 * reference is RFC 7748's test vectors and Everest's own X25519, which PSA
 * uses for the shared secret.
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/build_info.h>
#include <mbedtls/ecp.h>
#include <psa/crypto.h>

#include "net/rng.h"
#include "test/unit/check.h"

static struct rng *rng;

static void hex(unsigned char *out, const char *s)
{
	size_t i;

	for (i = 0; s[2 * i] != '\0'; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

/* X25519(k, u) through mbedtls_ecp_mul; 32 little-endian bytes each.
 * limbs > 0 grows u's bignum to that many limbs first. */
static int ecp_x25519(unsigned char out[32], const unsigned char k[32],
    const unsigned char u[32], size_t limbs)
{
	mbedtls_ecp_keypair key;
	mbedtls_ecp_point p, r;
	size_t len;
	int ret;

	mbedtls_ecp_keypair_init(&key);
	mbedtls_ecp_point_init(&p);
	mbedtls_ecp_point_init(&r);
	if ((ret = mbedtls_ecp_read_key(MBEDTLS_ECP_DP_CURVE25519, &key, k, 32)) != 0 ||
	    (ret = mbedtls_ecp_point_read_binary(&key.MBEDTLS_PRIVATE(grp), &p, u, 32)) != 0 ||
	    (limbs > 0 && (ret = mbedtls_mpi_grow(&p.MBEDTLS_PRIVATE(X), limbs)) != 0) ||
	    (ret = mbedtls_ecp_mul(&key.MBEDTLS_PRIVATE(grp), &r, &key.MBEDTLS_PRIVATE(d), &p,
	        rng_bytes, rng)) != 0)
		goto done;
	ret = mbedtls_ecp_point_write_binary(&key.MBEDTLS_PRIVATE(grp), &r,
	    MBEDTLS_ECP_PF_UNCOMPRESSED, &len, out, 32);
done:
	mbedtls_ecp_point_free(&r);
	mbedtls_ecp_point_free(&p);
	mbedtls_ecp_keypair_free(&key);
	return ret;
}

static psa_key_id_t psa_x25519_key(const unsigned char *priv)
{
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&attr, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_bits(&attr, 255);
	psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&attr, PSA_ALG_ECDH);
	if ((priv != NULL ? psa_import_key(&attr, priv, 32, &id) :
	    psa_generate_key(&attr, &id)) != PSA_SUCCESS)
		return 0;
	return id;
}

/* RFC 7748, 5.2: the two single vectors. */
static void test_rfc7748_vectors(void)
{
	static const char *const v[][3] = {
		{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
		/* u has bit 255 set, which X25519 ignores */
		{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	};
	unsigned char k[32], u[32], want[32], got[32];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		hex(k, v[i][0]);
		hex(u, v[i][1]);
		hex(want, v[i][2]);
		CHECK_EQ_INT(ecp_x25519(got, k, u, 0), 0);
		CHECK(memcmp(got, want, 32) == 0);
	}
}

/* RFC 7748, 5.2: k = u = 9, then (k, u) = (X25519(k, u), k), 1,000 times. */
static void test_rfc7748_iterated(void)
{
	unsigned char k[32] = { 9 }, u[32] = { 9 }, r[32], once[32], thousand[32];
	int i, ret = 0;

	hex(once, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
	hex(thousand, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
	for (i = 1; i <= 1000 && ret == 0; i++) {
		ret = ecp_x25519(r, k, u, 0);
		memcpy(u, k, 32);
		memcpy(k, r, 32);
		if (i == 1)
			CHECK(memcmp(k, once, 32) == 0);
	}
	CHECK_EQ_INT(ret, 0);
	CHECK(memcmp(k, thousand, 32) == 0);
}

/* A u at or above p (RFC 7748 says to accept it) and a bignum with more
 * limbs than the value needs both reach the step as they are. */
static void test_unreduced_inputs(void)
{
	unsigned char k[32], nine[32] = { 9 }, big[32], want[32], got[32];

	hex(k, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
	CHECK_EQ_INT(ecp_x25519(want, k, nine, 0), 0);
	/* p + 9 = 2^255 - 10 */
	memset(big, 0xff, sizeof(big));
	big[0] = 0xf6;
	big[31] = 0x7f;
	CHECK_EQ_INT(ecp_x25519(got, k, big, 0), 0);
	CHECK(memcmp(got, want, 32) == 0);
	CHECK_EQ_INT(ecp_x25519(got, k, nine, 8), 0);
	CHECK(memcmp(got, want, 32) == 0);
}

/* RFC 7748, 6.1: Alice's public key, as PSA exports it. */
static void test_psa_export_rfc7748(void)
{
	unsigned char priv[32], want[32], got[32];
	psa_key_id_t id;
	size_t len = 0;

	hex(priv, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	hex(want, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	id = psa_x25519_key(priv);
	CHECK(id != 0);
	CHECK_EQ_INT(psa_export_public_key(id, got, sizeof(got), &len), PSA_SUCCESS);
	CHECK_EQ_INT(len, 32);
	CHECK(memcmp(got, want, 32) == 0);
	psa_destroy_key(id);
}

/* TLS 1.3's key share: PSA's exported public key (the ladder) equals the
 * key agreement with the base point (Everest), for fresh random keys. */
static void test_psa_export_matches_everest(void)
{
	static const unsigned char base[32] = { 9 };
	unsigned char pub[32], agreed[32];
	psa_key_id_t id;
	size_t len;
	int i, same = 0;

	for (i = 0; i < 200; i++) {
		id = psa_x25519_key(NULL);
		if (id != 0 &&
		    psa_export_public_key(id, pub, sizeof(pub), &len) == PSA_SUCCESS && len == 32 &&
		    psa_raw_key_agreement(PSA_ALG_ECDH, id, base, sizeof(base), agreed,
		        sizeof(agreed), &len) == PSA_SUCCESS && len == 32 &&
		    memcmp(pub, agreed, 32) == 0)
			same++;
		psa_destroy_key(id);
	}
	CHECK_EQ_INT(same, 200);
}

#if defined(MBEDTLS_ECP_DOUBLE_ADD_MXZ_ALT)
/* Our configuration sends Curve25519, and only it, through the step, so the
 * tests above test it. (ecp_internal_alt.h is the library's own header.) */
unsigned char mbedtls_internal_ecp_grp_capable(const mbedtls_ecp_group *grp);

static void test_the_step_is_ours(void)
{
	mbedtls_ecp_group grp;

	mbedtls_ecp_group_init(&grp);
	CHECK_EQ_INT(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_CURVE25519), 0);
	CHECK_EQ_INT(mbedtls_internal_ecp_grp_capable(&grp), 1);
	mbedtls_ecp_group_free(&grp);
	CHECK_EQ_INT(mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1), 0);
	CHECK_EQ_INT(mbedtls_internal_ecp_grp_capable(&grp), 0);
	mbedtls_ecp_group_free(&grp);
}
#endif

int main(void)
{
	char err[256];

	if (psa_crypto_init() != PSA_SUCCESS || (rng = rng_new(err, sizeof(err))) == NULL) {
		printf("cannot start the crypto\n");
		return 1;
	}
#if defined(MBEDTLS_ECP_DOUBLE_ADD_MXZ_ALT)
	CHECK_RUN(test_the_step_is_ours);
#endif
	CHECK_RUN(test_rfc7748_vectors);
	CHECK_RUN(test_rfc7748_iterated);
	CHECK_RUN(test_unreduced_inputs);
	CHECK_RUN(test_psa_export_rfc7748);
	CHECK_RUN(test_psa_export_matches_everest);
	rng_free(rng);
	mbedtls_psa_crypto_free();
	return CHECK_SUMMARY();
}
