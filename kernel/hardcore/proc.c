// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/net/resin: server_port (read-only), srun-count and srun-0..15
 * (root may write), stats (read-only).
 *
 * A write is one whole line written at offset 0, at most 63 bytes; anything
 * else is -EINVAL and changes nothing.
 */
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <linux/slab.h>
#include <net/net_namespace.h>

#include "resin.h"

#define WRITE_MAX 64
#define STATS_MAX 4096

static struct proc_dir_entry *resin_dir;

/* slot of a srun-N file; -1 is srun-count, -2 server_port, -3 stats. */
#define SLOT_COUNT (-1)
#define SLOT_PORT (-2)
#define SLOT_STATS (-3)

static int show(int slot, char *buf, size_t len)
{
	switch (slot) {
	case SLOT_COUNT:
		return scnprintf(buf, len, "%d\n", srun_get_count());
	case SLOT_PORT:
		return scnprintf(buf, len, "%d\n", resin_port);
	case SLOT_STATS: {
		int off = scnprintf(buf, len,
			"connections %llu\nactive %d\nrefused %llu\nrequests %llu\nbytes_in %llu\nbytes_out %llu\nunavailable %llu\nbad_requests %llu\n",
			(unsigned long long)atomic64_read(&resin_stats.connections),
			atomic_read(&resin_stats.active),
			(unsigned long long)atomic64_read(&resin_stats.refused),
			(unsigned long long)atomic64_read(&resin_stats.requests),
			(unsigned long long)atomic64_read(&resin_stats.bytes_in),
			(unsigned long long)atomic64_read(&resin_stats.bytes_out),
			(unsigned long long)atomic64_read(&resin_stats.unavailable),
			(unsigned long long)atomic64_read(&resin_stats.bad));
		return off + srun_stats(buf + off, len - off);
	}
	default:
		return srun_show(slot, buf, len);
	}
}

static ssize_t resin_read(struct file *f, char __user *ubuf, size_t count, loff_t *ppos)
{
	int slot = (int)(long)pde_data(file_inode(f));
	char *buf;
	ssize_t n;

	buf = kmalloc(STATS_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	n = show(slot, buf, STATS_MAX);
	n = simple_read_from_buffer(ubuf, count, ppos, buf, n);
	kfree(buf);
	return n;
}

static ssize_t resin_write(struct file *f, const char __user *ubuf, size_t count, loff_t *ppos)
{
	int slot = (int)(long)pde_data(file_inode(f));
	char buf[WRITE_MAX];
	int err;

	if (*ppos != 0 || count == 0 || count >= WRITE_MAX)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	if (strlen(buf) != count)
		return -EINVAL; /* a NUL inside */
	if (slot == SLOT_COUNT)
		err = srun_set_count(buf);
	else if (slot >= 0)
		err = srun_set(slot, buf);
	else
		err = -EPERM;
	if (err)
		return err;
	*ppos += count;
	return count;
}

static const struct proc_ops resin_ro_ops = {
	.proc_read = resin_read,
	.proc_lseek = default_llseek,
};

static const struct proc_ops resin_rw_ops = {
	.proc_read = resin_read,
	.proc_write = resin_write,
	.proc_lseek = default_llseek,
};

int resin_proc_init(void)
{
	char name[16];
	int i;

	resin_dir = proc_mkdir("resin", init_net.proc_net);
	if (!resin_dir)
		return -ENOMEM;
	if (!proc_create_data("server_port", 0444, resin_dir, &resin_ro_ops, (void *)(long)SLOT_PORT) ||
	    !proc_create_data("stats", 0444, resin_dir, &resin_ro_ops, (void *)(long)SLOT_STATS) ||
	    !proc_create_data("srun-count", 0644, resin_dir, &resin_rw_ops, (void *)(long)SLOT_COUNT))
		goto fail;
	for (i = 0; i < RESIN_MAX_SRUN; i++) {
		snprintf(name, sizeof(name), "srun-%d", i);
		if (!proc_create_data(name, 0644, resin_dir, &resin_rw_ops, (void *)(long)i))
			goto fail;
	}
	return 0;
fail:
	proc_remove(resin_dir);
	return -ENOMEM;
}

void resin_proc_exit(void)
{
	proc_remove(resin_dir);
}
