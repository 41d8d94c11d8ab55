/*-------------------------------------------------------------------------
 *
 * match_cpus.c
 *		cdp_internal._match_cpus(): how many processors the server may use,
 *		online ones bounded by a container's CPU quota (cgroup v1 or v2).  A
 *		full run cuts its walk (match_walk.c) into no more parts than this.
 *		Split out of match_walk.c (issue 12, session 32).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <unistd.h>

#include "fmgr.h"
#include "storage/fd.h"

#include "match.h"

PG_FUNCTION_INFO_V1(cdp_match_cpus);

/*
 * MatchCpuQuotaOf
 *		The processors a CFS quota grants (quota / period, rounded up, at
 *		least 1), or 0 for no quota (quota "max" in cgroup v2, -1 in v1).
 */
static long
MatchCpuQuotaOf(double quota, double period)
{
	if (!(quota > 0) || !(period > 0))
		return 0;
	return Max((long) ceil(quota / period - 1e-9), 1);
}

/*
 * MatchCpuReadFile
 *		The first line of a small file under the cgroup mount, or false.
 */
static bool
MatchCpuReadFile(const char *path, char *buf, int size)
{
	FILE	   *f = AllocateFile(path, "r");
	bool		ok;

	if (f == NULL)
		return false;
	ok = fgets(buf, size, f) != NULL;
	FreeFile(f);
	return ok;
}

/*
 * MatchCpuQuota
 *		The processors the CPU quota of the server's cgroup grants, the
 *		smallest over the cgroup and its ancestors (a container's limit may
 *		sit on any of them), or 0 when none is set or none can be read:
 *		cgroup v2 "cpu.max" ("max 100000" or "150000 100000"), cgroup v1
 *		"cpu.cfs_quota_us" (-1: none) over "cpu.cfs_period_us", found through
 *		/proc/self/cgroup (issue 12, session 32).
 */
static long
MatchCpuQuota(void)
{
	FILE	   *f = AllocateFile("/proc/self/cgroup", "r");
	char		line[1024];
	long		best = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *c1 = strchr(line, ':');
		char	   *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char		dir[MAXPGPATH];
		bool		v2;
		const char *mounts[3] = {NULL, NULL, NULL};

		if (c2 == NULL)
			continue;
		*c2 = '\0';
		c2[strcspn(c2 + 1, "\n") + 1] = '\0';
		/* "0::/path" (v2), or "N:...cpu...:/path" (v1, the cpu controller) */
		v2 = strcmp(c1 + 1, "") == 0;
		if (v2)
			mounts[0] = "/sys/fs/cgroup";
		else
		{
			char	   *ctl = c1 + 1;
			bool		cpu = false;

			for (char *t = strtok(ctl, ","); t != NULL; t = strtok(NULL, ","))
				cpu |= strcmp(t, "cpu") == 0;
			if (!cpu)
				continue;
			mounts[0] = "/sys/fs/cgroup/cpu";
			mounts[1] = "/sys/fs/cgroup/cpu,cpuacct";
			mounts[2] = "/sys/fs/cgroup/cpuacct,cpu";
		}
		for (int m = 0; m < 3 && mounts[m] != NULL; m++)
		{
			/* the cgroup, then each ancestor up to the mount's root */
			strlcpy(dir, c2 + 1, sizeof(dir));
			for (;;)
			{
				char		path[MAXPGPATH];
				char		buf[128];
				char	   *slash;
				long		n = 0;

				if (v2)
				{
					char		q[32];
					double		period;

					snprintf(path, sizeof(path), "%s%s/cpu.max", mounts[m], strcmp(dir, "/") == 0 ? "" : dir);
					if (MatchCpuReadFile(path, buf, sizeof(buf)) &&
						sscanf(buf, "%31s %lf", q, &period) == 2 && strcmp(q, "max") != 0)
						n = MatchCpuQuotaOf(strtod(q, NULL), period);
				}
				else
				{
					char		pbuf[128];

					snprintf(path, sizeof(path), "%s%s/cpu.cfs_quota_us", mounts[m], strcmp(dir, "/") == 0 ? "" : dir);
					if (MatchCpuReadFile(path, buf, sizeof(buf)))
					{
						snprintf(path, sizeof(path), "%s%s/cpu.cfs_period_us", mounts[m], strcmp(dir, "/") == 0 ? "" : dir);
						if (MatchCpuReadFile(path, pbuf, sizeof(pbuf)))
							n = MatchCpuQuotaOf(strtod(buf, NULL), strtod(pbuf, NULL));
					}
				}
				if (n > 0 && (best == 0 || n < best))
					best = n;
				slash = strrchr(dir, '/');
				if (slash == NULL || strcmp(dir, "/") == 0)
					break;
				if (slash == dir)
					strcpy(dir, "/");
				else
					*slash = '\0';
			}
		}
	}
	FreeFile(f);
	return best;
}

/*
 * cdp_match_cpus
 *		_match_cpus(): the processors the server may use: those online on
 *		its machine (sysconf(_SC_NPROCESSORS_ONLN)), fewer under a container's
 *		CPU quota (cgroup v2 cpu.max, v1 cpu.cfs_quota_us: MatchCpuQuota,
 *		issue 12, session 32), at most 1024; NULL where the system does not
 *		say.  A whole run cuts its walk into no more parts than this
 *		(_match_run): each part loads every record, so a part beyond the
 *		cores repeats a load without scoring any sooner (issue 12, session
 *		31).
 */
Datum
cdp_match_cpus(PG_FUNCTION_ARGS)
{
	long		n = -1;
	long		quota = MatchCpuQuota();

#ifdef _SC_NPROCESSORS_ONLN
	n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
	if (n < 1)
		n = quota;
	else if (quota > 0)
		n = Min(n, quota);
	if (n < 1)
		PG_RETURN_NULL();
	PG_RETURN_INT32((int32) Min(n, 1024));
}
