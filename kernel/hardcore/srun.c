// SPDX-License-Identifier: GPL-2.0
/*
 * The srun table: the app-tier servers requests go to, as resind writes
 * them to /proc/net/resin/srun-N ("IP PORT [INDEX [ID]]") and srun-count.
 *
 * Every write is validated whole before anything changes: a bad address,
 * port, index or count is -EINVAL and the table stays as it was. A slot at
 * or past srun-count may be written at any time (resind fills slots before
 * raising the count); srun-count may only cover slots that are set.
 */
#include <linux/kernel.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/inet.h>
#include <linux/ctype.h>

#include "resin.h"

#define SRUN_ID_MAX 32

struct srun {
	bool set;
	__be32 ip;
	__be16 port;
	int index;
	char id[SRUN_ID_MAX + 1]; /* the server id, "" when not given */
	u64 hash; /* of the id (else the index), for the hashed backup of a session */
	atomic64_t requests;
	atomic64_t failures;
};

static DEFINE_SPINLOCK(srun_lock);
static struct srun sruns[RESIN_MAX_SRUN];
static int srun_count;
static atomic_t srun_next = ATOMIC_INIT(0);

/* Session ids encode their owner in the alphabet of proxy/sessionid.go. */
static const char id_alphabet[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
#define MAX_OWNER_INDEX (64 * 64 * 64 - 1)

static int alphabet_value(char c)
{
	const char *p = memchr(id_alphabet, c, 64);

	return p ? p - id_alphabet : -1;
}

/* owner_index decodes the first three characters of a session id. */
static int owner_index(const char *id, size_t len)
{
	int a, b, c;

	if (len < 3)
		return -1;
	a = alphabet_value(id[0]);
	b = alphabet_value(id[1]);
	c = alphabet_value(id[2]);
	if (a < 0 || b < 0 || c < 0)
		return -1;
	return a + 64 * (b + 64 * c);
}

/* fnv64 and mix64 are proxy/sticky.go's hashString and mix64. */
static u64 fnv64(const char *s, size_t len)
{
	u64 h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (u8)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static u64 mix64(u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

int srun_get_count(void)
{
	int n;

	spin_lock(&srun_lock);
	n = srun_count;
	spin_unlock(&srun_lock);
	return n;
}

int srun_show(int i, char *buf, size_t len)
{
	struct srun s;

	if (i < 0 || i >= RESIN_MAX_SRUN)
		return 0;
	spin_lock(&srun_lock);
	s.set = sruns[i].set;
	s.ip = sruns[i].ip;
	s.port = sruns[i].port;
	s.index = sruns[i].index;
	memcpy(s.id, sruns[i].id, sizeof(s.id));
	spin_unlock(&srun_lock);
	if (!s.set)
		return 0;
	if (s.id[0])
		return scnprintf(buf, len, "%pI4 %u %d %s\n", &s.ip, ntohs(s.port), s.index, s.id);
	return scnprintf(buf, len, "%pI4 %u %d\n", &s.ip, ntohs(s.port), s.index);
}

/* next_field returns the next space-separated field of *p, NUL-terminated. */
static char *next_field(char **p)
{
	char *s = skip_spaces(*p), *e;

	if (!*s)
		return NULL;
	e = s;
	while (*e && !isspace(*e))
		e++;
	if (*e)
		*e++ = '\0';
	*p = e;
	return s;
}

int srun_set(int i, const char *line)
{
	char tmp[64], *p = tmp, *ip_s, *port_s, *index_s, *id_s;
	const char *end;
	__be32 ip;
	u16 port;
	int index = i, k;
	u64 hash;

	if (i < 0 || i >= RESIN_MAX_SRUN)
		return -EINVAL;
	if (strscpy(tmp, line, sizeof(tmp)) < 0)
		return -EINVAL;
	ip_s = next_field(&p);
	port_s = next_field(&p);
	index_s = next_field(&p);
	id_s = index_s ? next_field(&p) : NULL;
	if (!ip_s || !port_s || next_field(&p))
		return -EINVAL;
	if (id_s) {
		if (strlen(id_s) > SRUN_ID_MAX)
			return -EINVAL;
		for (k = 0; id_s[k]; k++) {
			if (id_s[k] < '!' || id_s[k] > '~')
				return -EINVAL;
		}
	}
	if (!in4_pton(ip_s, -1, (u8 *)&ip, '\0', &end) || *end)
		return -EINVAL;
	if (ip == htonl(INADDR_ANY) || ip == htonl(INADDR_BROADCAST) || ipv4_is_multicast(ip))
		return -EINVAL;
	if (kstrtou16(port_s, 10, &port) || port == 0)
		return -EINVAL;
	if (index_s && (kstrtoint(index_s, 10, &index) || index < 0 || index > MAX_OWNER_INDEX))
		return -EINVAL;

	/* proxy/sticky.go hashes the server id; without one, the index. */
	hash = id_s ? fnv64(id_s, strlen(id_s)) : fnv64((const char *)&index, sizeof(index));

	spin_lock(&srun_lock);
	if (!sruns[i].set || sruns[i].ip != ip || sruns[i].port != htons(port)) {
		atomic64_set(&sruns[i].requests, 0);
		atomic64_set(&sruns[i].failures, 0);
	}
	sruns[i].ip = ip;
	sruns[i].port = htons(port);
	sruns[i].index = index;
	strscpy(sruns[i].id, id_s ? id_s : "", sizeof(sruns[i].id));
	sruns[i].hash = hash;
	sruns[i].set = true;
	spin_unlock(&srun_lock);
	return 0;
}

int srun_set_count(const char *line)
{
	char tmp[16];
	unsigned int n;
	int i, err = 0;

	if (strscpy(tmp, line, sizeof(tmp)) < 0)
		return -EINVAL;
	if (kstrtouint(strim(tmp), 10, &n) || n > RESIN_MAX_SRUN)
		return -EINVAL;
	spin_lock(&srun_lock);
	for (i = 0; i < n; i++) {
		if (!sruns[i].set)
			err = -EINVAL;
	}
	if (!err)
		srun_count = n;
	spin_unlock(&srun_lock);
	return err;
}

static void fill(struct srun_addr *out, int i)
{
	out->ip = sruns[i].ip;
	out->port = sruns[i].port;
	out->index = sruns[i].index;
	out->slot = i;
}

bool srun_pick(const char *session, size_t session_len, u32 *tried, struct srun_addr *out)
{
	int i, n, start, best = -1;
	u64 score, best_score = 0, h;
	int owner = session ? owner_index(session, session_len) : -1;

	spin_lock(&srun_lock);
	n = srun_count;
	if (owner >= 0) {
		for (i = 0; i < n; i++) {
			if (sruns[i].index == owner && !(*tried & BIT(i))) {
				best = i;
				goto found;
			}
		}
		/* The owner is gone: every web server picks the same backup. */
		h = fnv64(session, session_len);
		for (i = 0; i < n; i++) {
			if (*tried & BIT(i))
				continue;
			score = mix64(h ^ sruns[i].hash);
			if (best < 0 || score > best_score) {
				best = i;
				best_score = score;
			}
		}
		if (best >= 0)
			goto found;
	}
	if (n > 0) {
		start = (unsigned int)atomic_inc_return(&srun_next) % n;
		for (i = 0; i < n; i++) {
			int j = (start + i) % n;

			if (!(*tried & BIT(j))) {
				best = j;
				goto found;
			}
		}
	}
	spin_unlock(&srun_lock);
	return false;
found:
	fill(out, best);
	*tried |= BIT(best);
	spin_unlock(&srun_lock);
	return true;
}

void srun_failed(int slot)
{
	if (slot >= 0 && slot < RESIN_MAX_SRUN)
		atomic64_inc(&sruns[slot].failures);
}

void srun_served(int slot)
{
	if (slot >= 0 && slot < RESIN_MAX_SRUN)
		atomic64_inc(&sruns[slot].requests);
}

int srun_stats(char *buf, size_t len)
{
	int i, n, off = 0;

	spin_lock(&srun_lock);
	n = srun_count;
	for (i = 0; i < n && off < len; i++) {
		off += scnprintf(buf + off, len - off, "srun-%d %pI4:%u index %d requests %llu failures %llu\n",
				 i, &sruns[i].ip, ntohs(sruns[i].port), sruns[i].index,
				 (unsigned long long)atomic64_read(&sruns[i].requests),
				 (unsigned long long)atomic64_read(&sruns[i].failures));
	}
	spin_unlock(&srun_lock);
	return off;
}
