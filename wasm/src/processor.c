// The seed's file_processor: a WASI preview-1 reactor whose `process` export reads the
// CSV named by `--input` (from a read-only mount), counts its data rows and writes a
// summary to /output in the format chosen by $OUTPUT_FORMAT. Returns the row count.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int __main_argc_argv(int argc, char **argv) __attribute__((weak));

static const char *input_path(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--input") == 0) return argv[i + 1];
    return "/data/input.csv";
}

// wasi-libc's reactor startup does not hand argv to exports: read it ourselves.
#include <wasi/api.h>
static int read_args(char ***out) {
    size_t argc = 0, size = 0;
    if (__wasi_args_sizes_get(&argc, &size) != 0) return 0;
    char **argv = calloc(argc + 1, sizeof(char *));
    char *buf = malloc(size ? size : 1);
    if (!argv || !buf || __wasi_args_get((uint8_t **)argv, (uint8_t *)buf) != 0) return 0;
    *out = argv;
    return (int)argc;
}

__attribute__((export_name("process"))) int process(void) {
    char **argv = NULL;
    int argc = read_args(&argv);
    const char *path = input_path(argc, argv);
    FILE *in = fopen(path, "r");
    if (!in) { fprintf(stderr, "cannot open %s\n", path); return -1; }
    char line[4096];
    int rows = -1;  // the first line is the header
    while (fgets(line, sizeof line, in)) rows++;
    fclose(in);
    if (rows < 0) rows = 0;

    const char *format = getenv("OUTPUT_FORMAT");
    if (!format) format = "text";
    FILE *out = fopen("/output/summary.txt", "w");
    if (out) {
        if (strcmp(format, "json") == 0) fprintf(out, "{\"rows\": %d}\n", rows);
        else fprintf(out, "rows: %d\n", rows);
        fclose(out);
    }
    printf("processed %d rows from %s\n", rows, path);
    return rows;
}
