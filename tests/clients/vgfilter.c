/*
 * vgfilter: reads a valgrind (memcheck) log and fails only on the errors that involve this
 * library, for the clients_memcheck tests (tests/clients/CMakeLists.txt).
 *
 * The real clients (athena and its tests) have memory errors of their own and trip compiler
 * defects (gfortran 12's polymorphic assignment, LLVM flang's assignment of derived types with
 * allocatable components) that leak or read freed memory without any help from us. Counting
 * every error would make the test useless; ignoring valgrind would hide our own bugs. So each
 * error block of the log is classified:
 *
 *   - invalid accesses, uses of uninitialised values, bad frees (any error that is not a
 *     leak) with a frame of this library in their stacks: ours, the test fails;
 *   - "definitely lost" blocks allocated by a frame of this library: ours when leaks are
 *     checked (--leaks), the test fails; "indirectly" and "possibly" lost blocks belong to a
 *     block lost by someone else and are only counted;
 *   - everything else: the client's or the compiler's, counted and summarised.
 *
 * Usage: vgfilter [--leaks] <valgrind log>. Prints a one-line summary and every block that is
 * ours; exits 0 when there is none, 1 when there are, 2 when the log cannot be read.
 *
 * Leaks are checked only for programs built with a compiler that keeps main-program variables
 * alive until exit: gfortran 12 keeps them on the stack of MAIN__, so everything a main
 * program still holds at its end shows as "definitely lost".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Substrings that mark a stack frame of this library: the Fortran module and its submodules
 * (gfortran and flang name mangling, source files), the C helpers, the Rust core. */
static const char *const OURS[] = {
    "__diffstruc_MOD_", "__diffstruc.diffstruc_", "_QMdiffstruc", "diffstruc.f90",
    "diffstruc_objects.f90", "diffstruc_autodiff.f90", "diffstruc_custom.f90",
    "diffstruc_errors.f90", "diffstruc_cfi.c", "libdiffstruc", "diffstruc::", " ds_",
};

enum kind { OTHER, ACCESS, DEFINITE, INDIRECT };

struct counts {
  int ours, access, definite, indirect;
};

static bool is_ours(const char *block) {
  for (size_t i = 0; i < sizeof OURS / sizeof OURS[0]; i++)
    if (strstr(block, OURS[i]))
      return true;
  return false;
}

static enum kind kind_of(const char *first_line) {
  if (strstr(first_line, "definitely lost in loss record"))
    return DEFINITE;
  if (strstr(first_line, "indirectly lost in loss record") ||
      strstr(first_line, "possibly lost in loss record"))
    return INDIRECT;
  static const char *const access[] = {
      "Invalid read",   "Invalid write",   "Invalid free",        "Mismatched free",
      "Conditional jump", "Use of uninitialised", "Syscall param", "Source and destination overlap",
      "fishy value",    "Invalid alignment"};
  for (size_t i = 0; i < sizeof access / sizeof access[0]; i++)
    if (strstr(first_line, access[i]))
      return ACCESS;
  return OTHER;
}

/* Classifies one block (its text without the "==pid== " prefixes). */
static void classify(const char *block, bool leaks, struct counts *c) {
  const char *eol = strchr(block, '\n');
  size_t n = eol ? (size_t)(eol - block) : strlen(block);
  char first[512];
  if (n >= sizeof first)
    n = sizeof first - 1;
  memcpy(first, block, n);
  first[n] = '\0';
  enum kind k = kind_of(first);
  if (k == OTHER)
    return;
  if (k == INDIRECT) {
    c->indirect++;
    return;
  }
  if (is_ours(block) && (k == ACCESS || leaks)) {
    c->ours++;
    printf("---- ours:\n%s", block);
  } else if (k == ACCESS) {
    c->access++;
  } else {
    c->definite++;
  }
}

int main(int argc, char **argv) {
  bool leaks = false;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--leaks") == 0)
      leaks = true;
    else
      path = argv[i];
  }
  if (!path) {
    fprintf(stderr, "usage: vgfilter [--leaks] <valgrind log>\n");
    return 2;
  }
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "vgfilter: cannot read %s\n", path);
    return 2;
  }
  struct counts c = {0, 0, 0, 0};
  size_t cap = 1 << 16, len = 0;
  char *block = malloc(cap);
  char line[4096];
  if (!block) {
    fclose(f);
    return 2;
  }
  block[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    /* valgrind's lines start with ==pid==; the program's own output is skipped */
    if (strncmp(line, "==", 2) != 0)
      continue;
    const char *text = strstr(line + 2, "== ");
    if (!text)
      continue;
    text += 3;
    if (text[0] == '\n' || text[0] == '\0') {
      if (len > 0)
        classify(block, leaks, &c);
      len = 0;
      block[0] = '\0';
      continue;
    }
    size_t m = strlen(text);
    if (len + m + 1 > cap) {
      continue; /* an overlong block keeps its first frames, enough to classify it */
    }
    memcpy(block + len, text, m + 1);
    len += m;
  }
  if (len > 0)
    classify(block, leaks, &c);
  fclose(f);
  free(block);
  printf("vgfilter: %d error(s) involving diffstruc; the client's own: %d access error(s), %d "
         "definitely lost, %d indirectly or possibly lost block(s)%s\n",
         c.ours, c.access, c.definite, c.indirect, leaks ? "" : " (leaks not checked)");
  return c.ours > 0 ? 1 : 0;
}
