// A preview-1 command that exercises one WASI feature per run, chosen by argv[1], and
// reports what happened on stdout. The tests run it with different args and mounts.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what) {
  printf("%s failed: %s\n", what, strerror(errno));
  return 1;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return fail("write");
  fputs(text, f);
  if (fclose(f) != 0) return fail("write");
  printf("write ok\n");
  return 0;
}

static int read_file(const char *path) {
  char buf[256] = {0};
  FILE *f = fopen(path, "r");
  if (!f) return fail("read");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  printf("read %s\n", buf);
  return 0;
}

// write, read back, list, rename, unlink: all inside `dir`.
static int files(const char *dir) {
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/a.txt", dir);
  snprintf(b, sizeof b, "%s/b.txt", dir);
  if (write_file(a, "hello")) return 1;
  if (read_file(a)) return 1;
  DIR *d = opendir(dir);
  if (!d) return fail("readdir");
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] != '.') printf("entry %s\n", e->d_name);
  }
  closedir(d);
  if (rename(a, b) != 0) return fail("rename");
  printf("rename ok\n");
  if (unlink(b) != 0) return fail("unlink");
  printf("unlink ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    printf("hello from wasi\n");
    return 0;
  }
  const char *mode = argv[1];
  const char *arg = argc > 2 ? argv[2] : "";
  if (!strcmp(mode, "args")) {
    for (int i = 0; i < argc; i++) printf("arg %s\n", argv[i]);
  } else if (!strcmp(mode, "env")) {
    const char *v = getenv(arg);
    printf("env %s=%s\n", arg, v ? v : "<unset>");
  } else if (!strcmp(mode, "cwd")) {
    char buf[512];
    printf("cwd %s\n", getcwd(buf, sizeof buf) ? buf : "<none>");
  } else if (!strcmp(mode, "files")) {
    return files(arg);
  } else if (!strcmp(mode, "write")) {
    return write_file(arg, "x");
  } else if (!strcmp(mode, "read")) {
    return read_file(arg);
  } else if (!strcmp(mode, "sleep")) {
    printf("sleeping %s\n", arg);
    fflush(stdout);  // a watcher (the Ctrl-C test) waits for this line
    struct timespec ts = {atoi(arg) / 1000, (atoi(arg) % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    printf("slept\n");
  } else if (!strcmp(mode, "stdin")) {
    char buf[1024];
    long total = 0;
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) total += n;
    printf("stdin %ld bytes\n", total);
  } else if (!strcmp(mode, "exit")) {
    printf("exiting %d\n", atoi(arg));
    exit(atoi(arg));
  } else {
    printf("unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
