/* srv_notify.h - tell systemd (Type=notify) that the daemon is ready or
 * stopping. With libsystemd (HAVE_SYSTEMD) this is sd_notify; without it,
 * the same documented datagram to $NOTIFY_SOCKET, so the unit works either
 * way. No-op when NOTIFY_SOCKET is unset. */
#ifndef SRV_NOTIFY_H
#define SRV_NOTIFY_H

/* "READY=1\nSTATUS=...", "STOPPING=1". Returns 1 if sent, 0 if no socket,
 * -1 on error. */
int srv_notify(const char *state);

#endif
