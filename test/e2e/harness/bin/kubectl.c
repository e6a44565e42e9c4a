/*
 * Native build of the kubectl stand-in (harness/bin/kubectl is the same client in Node.js, used
 * when no C compiler is found). A real kubectl is a Go binary that starts in a few milliseconds; the
 * Node.js script costs ~100 ms of CPU per call, and the sidecars call kubectl every second.
 *
 * Like the real kubectl in a pod, it authenticates with the pod's ServiceAccount token; it hands
 * its arguments (and its standard input, for `-f -`) to the harness's API stand-in (harness/api.ts)
 * over a Unix socket, which checks RBAC and answers; it prints the answer's stdout and stderr and
 * exits with its code. The harness compiles it per cluster with the socket's absolute path:
 *
 *   cc -O2 -o <stateDir>/bin/kubectl -DAPI_SOCKET='"/abs/path/api.sock"' kubectl.c
 *
 * so that a script may copy the binary elsewhere and run it from there, as any user.
 *
 * Request: POST /kubectl, a JSON body {"token","namespace","args","stdin"} (as the Node.js client
 * sends it; bytes of 0x80 and above pass through, the server decodes UTF-8), with the header
 * `X-Kubectl-Raw: 1`, so that the answer comes framed as `<code>\n<stdout length>\n<stdout><stderr>`
 * instead of JSON. A watch (`get ... --watch`) is answered with the header `X-Kubectl-Stream: 1` and raw
 * standard output as it comes, until the server ends it: copied to stdout as it arrives, exit code 0.
 * Plain C99 and POSIX, libc only.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef API_SOCKET
#error "compile with -DAPI_SOCKET='\"/absolute/path/to/api.sock\"'"
#endif

#define ACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct buf {
  char *data;
  size_t len;
  size_t cap;
};

static void die(const char *message) {
  fprintf(stderr, "kubectl stand-in: %s\n", message);
  exit(1);
}

static void reserve(struct buf *b, size_t extra) {
  size_t cap;
  char *data;
  if (b->len + extra <= b->cap) return;
  cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra) {
    if (cap > (size_t)-1 / 2) die("out of memory");
    cap *= 2;
  }
  data = realloc(b->data, cap);
  if (!data) die("out of memory");
  b->data = data;
  b->cap = cap;
}

static void append(struct buf *b, const void *data, size_t len) {
  reserve(b, len);
  memcpy(b->data + b->len, data, len);
  b->len += len;
}

static void appends(struct buf *b, const char *s) {
  append(b, s, strlen(s));
}

/* Reads a descriptor to its end; -1 (errno set) on an error. A non-blocking one is waited for. */
static int read_all(int fd, struct buf *b) {
  for (;;) {
    ssize_t n;
    reserve(b, 65536);
    n = read(fd, b->data + b->len, b->cap - b->len);
    if (n > 0) {
      b->len += (size_t)n;
    } else if (n == 0) {
      return 0;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      struct pollfd p;
      p.fd = fd;
      p.events = POLLIN;
      p.revents = 0;
      if (poll(&p, 1, -1) < 0 && errno != EINTR) return -1;
    } else if (errno != EINTR) {
      return -1;
    }
  }
}

static int read_file(const char *path, struct buf *b) {
  int fd, result, saved;
  do {
    fd = open(path, O_RDONLY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  result = read_all(fd, b);
  saved = errno;
  close(fd);
  errno = saved;
  return result;
}

/*
 * The length of the white space character (as JavaScript's String.prototype.trim sees it, in
 * UTF-8) that starts at s, or 0: TAB..CR, space, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000, U+FEFF.
 */
static size_t space_at(const unsigned char *s, size_t n) {
  if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || s[0] == 0x20)) return 1;
  if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0) return 2;
  if (n < 3) return 0;
  if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;
  if (s[0] == 0xe2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) return 3;
  if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3;
  if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3;
  if (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) return 3;
  return 0;
}

/* Trims white space at both ends, as the Node.js client's .trim() does. */
static void trim(struct buf *b, const char **start, size_t *len) {
  const unsigned char *s = (const unsigned char *)b->data;
  size_t from = 0, to = b->len, k;
  while (from < to && (k = space_at(s + from, to - from)) > 0) from += k;
  for (;;) {
    size_t found = 0;
    for (k = 1; k <= 3 && k <= to - from; k++) {
      if (space_at(s + to - k, k) == k) {
        found = k;
        break;
      }
    }
    if (!found) break;
    to -= found;
  }
  *start = b->data ? b->data + from : "";
  *len = to - from;
}

/* A JSON string: quotes, backslashes and control characters escaped; other bytes as they are. */
static void json_string(struct buf *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i, run = 0;
  reserve(b, len + 2);
  append(b, "\"", 1);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *escape = NULL;
    char unicode[7];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    append(b, s + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': escape = "\\\""; break;
      case '\\': escape = "\\\\"; break;
      case '\b': escape = "\\b"; break;
      case '\f': escape = "\\f"; break;
      case '\n': escape = "\\n"; break;
      case '\r': escape = "\\r"; break;
      case '\t': escape = "\\t"; break;
      default:
        unicode[0] = '\\';
        unicode[1] = 'u';
        unicode[2] = '0';
        unicode[3] = '0';
        unicode[4] = hex[c >> 4];
        unicode[5] = hex[c & 15];
        unicode[6] = '\0';
        escape = unicode;
    }
    appends(b, escape);
  }
  append(b, s + run, len - run);
  append(b, "\"", 1);
}

/* Whether kubectl would read its standard input: -f - / --filename - / --filename=- / -f=- / -f- before any `--`. */
static int reads_stdin(int argc, char **argv) {
  int i;
  for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *a = argv[i];
    if ((strcmp(a, "-f") == 0 || strcmp(a, "--filename") == 0) && i + 1 < argc && strcmp(argv[i + 1], "-") == 0) return 1;
    if (strcmp(a, "--filename=-") == 0 || strcmp(a, "-f=-") == 0 || strcmp(a, "-f-") == 0) return 1;
  }
  return 0;
}

/* The name Node.js (libuv) gives an errno, as the Node.js client's connection errors read. */
static const char *errno_name(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case ENOTSOCK: return "ENOTSOCK";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case EAGAIN: return "EAGAIN";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    default: return NULL;
  }
}

static void connection_failed(const char *operation, int e, const char *address) {
  const char *name = errno_name(e);
  if (name) fprintf(stderr, "Unable to connect to the server: %s %s%s%s\n", operation, name, address ? " " : "", address ? address : "");
  else fprintf(stderr, "Unable to connect to the server: %s %s%s%s\n", operation, strerror(e), address ? " " : "", address ? address : "");
  exit(1);
}

static void send_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      connection_failed("write", errno, NULL);
    }
    data += n;
    len -= (size_t)n;
  }
}

static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += n;
    len -= (size_t)n;
  }
}

static void malformed(void) {
  die("malformed answer from the API stand-in");
}

/* Parses a decimal number at *p, up to `end`, and then one newline. */
static long long parse_line_number(const char **p, const char *end, int allow_sign) {
  const char *s = *p;
  int negative = 0, digits = 0;
  long long value = 0;
  if (allow_sign && s < end && *s == '-') {
    negative = 1;
    s++;
  }
  while (s < end && *s >= '0' && *s <= '9') {
    if (value > 1000000000000LL) malformed();
    value = value * 10 + (*s - '0');
    s++;
    digits++;
  }
  if (!digits || s >= end || *s != '\n') malformed();
  *p = s + 1;
  return negative ? -value : value;
}

/* Case-insensitive comparison of a header line's name. */
static int header_is(const char *line, const char *end, const char *name) {
  size_t n = strlen(name), i;
  if ((size_t)(end - line) <= n || line[n] != ':') return 0;
  for (i = 0; i < n; i++) {
    char c = line[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != name[i]) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  static const char socket_path[] = API_SOCKET;
  struct buf token = {0}, namespace = {0}, input = {0}, body = {0}, head = {0}, response = {0};
  const char *value, *p, *end, *headers_end = NULL, *line;
  size_t value_len, body_start = 0, want = 0;
  int have_length = 0, streaming = 0, fd, i;
  long long code, out_len;
  struct sockaddr_un address;

  if (read_file(ACCOUNT_DIR "/token", &token) < 0) {
    /* Real kubectl without in-cluster credentials falls back to an empty config. */
    fputs("The connection to the server localhost:8080 was refused - did you specify the right host or port?\n", stderr);
    return 1;
  }
  if (read_file(ACCOUNT_DIR "/namespace", &namespace) < 0) namespace.len = 0; /* kubectl then uses "default" */

  appends(&body, "{\"token\":");
  trim(&token, &value, &value_len);
  json_string(&body, value, value_len);
  appends(&body, ",\"namespace\":");
  trim(&namespace, &value, &value_len);
  json_string(&body, value, value_len);
  appends(&body, ",\"args\":[");
  for (i = 1; i < argc; i++) {
    if (i > 1) append(&body, ",", 1);
    json_string(&body, argv[i], strlen(argv[i]));
  }
  append(&body, "]", 1);
  if (reads_stdin(argc, argv)) {
    if (read_all(0, &input) < 0) {
      fprintf(stderr, "error: reading standard input: %s\n", strerror(errno));
      return 1;
    }
    appends(&body, ",\"stdin\":");
    json_string(&body, input.data ? input.data : "", input.len);
  }
  append(&body, "}", 1);

  {
    char header[256];
    snprintf(header, sizeof header,
      "POST /kubectl HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %lu\r\n"
      "X-Kubectl-Raw: 1\r\nConnection: close\r\n\r\n", (unsigned long)body.len);
    appends(&head, header);
  }

  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (sizeof socket_path > sizeof address.sun_path) connection_failed("connect", ENAMETOOLONG, socket_path);
  memcpy(address.sun_path, socket_path, sizeof socket_path);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) connection_failed("connect", errno, socket_path);
  while (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
    if (errno != EINTR) connection_failed("connect", errno, socket_path);
  }
  send_all(fd, head.data, head.len);
  send_all(fd, body.data, body.len);

  /* The answer: headers, then Content-Length bytes of body (or up to the end). */
  for (;;) {
    ssize_t n;
    if (headers_end && have_length && response.len - body_start >= want) break;
    reserve(&response, 65536);
    n = recv(fd, response.data + response.len, response.cap - response.len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      connection_failed("read", errno, NULL);
    }
    if (n == 0) break;
    response.len += (size_t)n;
    if (!headers_end) {
      size_t k;
      for (k = 3; k < response.len; k++) {
        if (memcmp(response.data + k - 3, "\r\n\r\n", 4) == 0) {
          headers_end = response.data + k + 1;
          break;
        }
      }
      if (!headers_end) continue;
      body_start = (size_t)(headers_end - response.data);
      if (strncmp(response.data, "HTTP/1.1 200 ", 13) != 0 && strncmp(response.data, "HTTP/1.0 200 ", 13) != 0) malformed();
      for (line = response.data; line < headers_end - 2;) {
        const char *eol = line;
        while (eol < headers_end && *eol != '\r') eol++;
        if (header_is(line, eol, "content-length")) {
          const char *v = line + strlen("content-length") + 1;
          while (v < eol && *v == ' ') v++;
          want = 0;
          for (; v < eol && *v >= '0' && *v <= '9'; v++) want = want * 10 + (size_t)(*v - '0');
          have_length = 1;
        } else if (header_is(line, eol, "transfer-encoding")) {
          malformed();
        } else if (header_is(line, eol, "x-kubectl-stream")) {
          streaming = 1;
        }
        line = eol + 2;
      }
      if (streaming) break;
    }
  }
  if (streaming) {
    /* A watch: what came with the headers, then everything else as it arrives. */
    write_all(1, response.data + body_start, response.len - body_start);
    for (;;) {
      char chunk[65536];
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        connection_failed("read", errno, NULL);
      }
      if (n == 0) break;
      write_all(1, chunk, (size_t)n);
    }
    close(fd);
    return 0;
  }
  close(fd);
  if (!headers_end) {
    fputs("Unable to connect to the server: socket hang up\n", stderr);
    return 1;
  }
  if (have_length && response.len - body_start < want) malformed();
  p = response.data + body_start;
  end = have_length ? p + want : response.data + response.len;

  code = parse_line_number(&p, end, 1);
  out_len = parse_line_number(&p, end, 0);
  if (out_len > end - p) malformed();
  write_all(1, p, (size_t)out_len);
  write_all(2, p + out_len, (size_t)(end - p - out_len));
  return (int)(code & 0xff);
}
