/* loopfsd: telling a service manager that the instance is ready. */
#ifndef LOOPFSD_SERVICE_NOTIFY_H
#define LOOPFSD_SERVICE_NOTIFY_H

/* Send "READY=1" to the socket in $NOTIFY_SOCKET, when there is one
 * (systemd's Type=notify protocol, see sd_notify(3)).  Returns 0 or
 * -errno; without $NOTIFY_SOCKET there is nothing to do. */
int service_notify_ready (void);

#endif /* LOOPFSD_SERVICE_NOTIFY_H */
