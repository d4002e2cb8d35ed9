/*
 * Fallback pause for pyodo's sandbox image, used only when Kubernetes' own
 * build/pause/linux/pause.c cannot be had from the Go module cache/proxy.
 * Same behaviour: sleep forever, reap zombies (it is PID 1 of the pod sandbox), exit 0 on
 * SIGINT/SIGTERM. Built with gcc -Os -static.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
  psignal(signo, "Shutting down, got signal");
  exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

int main(void) {
  struct sigaction down, reap;
  memset(&down, 0, sizeof down);
  memset(&reap, 0, sizeof reap);
  down.sa_handler = sigdown;
  reap.sa_handler = sigreap;
  reap.sa_flags = SA_NOCLDSTOP;
  if (getpid() != 1)
    fprintf(stderr, "Warning: pause should be the first process\n");
  if (sigaction(SIGINT, &down, NULL) < 0 || sigaction(SIGTERM, &down, NULL) < 0 ||
      sigaction(SIGCHLD, &reap, NULL) < 0)
    return 1;
  for (;;)
    pause();
  return 42;
}
