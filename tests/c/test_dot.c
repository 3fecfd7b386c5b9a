/*
 * test_dot.c -- ds_graph_dot: the graph as Graphviz DOT text, under the text rule (a buffer too
 * small gives DS_ERR_ARGUMENT and the length; retry), shared nodes drawn once.
 */
#include "test_util.h"

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

int main(void)
{
    const int64_t shape[1] = {2};
    const float xv[2] = {1.0f, 2.0f}, yv[2] = {3.0f, 4.0f};
    ds_array *x = NULL, *y = NULL, *xx = NULL, *f = NULL;
    char small[8];
    size_t len = 0;
    CHECK_OK(ds_array_from_data(shape, 1, 1, xv, 2, &x));
    CHECK_OK(ds_array_from_data(shape, 1, 1, yv, 2, &y));
    CHECK_OK(ds_array_set_flag(x, DS_FLAG_REQUIRES_GRAD, true));
    CHECK_OK(ds_binary(DS_MUL, x, x, &xx));
    CHECK_OK(ds_binary(DS_ADD, xx, y, &f));
    CHECK_STATUS(ds_graph_dot(f, small, sizeof small, &len), DS_ERR_ARGUMENT);
    CHECK(len > sizeof small);
    char *text = malloc(len + 1);
    if (CHECK(text != NULL)) {
        CHECK_OK(ds_graph_dot(f, text, len + 1, &len));
        CHECK(strncmp(text, "digraph diffstruc {", 19) == 0);
        CHECK(strstr(text, "add\\n[2] x 1") != NULL);
        CHECK(strstr(text, "multiply\\n[2] x 1") != NULL);
        CHECK(count(text, "[label=") == 4); /* x drawn once */
        CHECK(count(text, "->") == 4);
        free(text);
    }
    CHECK_STATUS(ds_graph_dot(NULL, small, sizeof small, &len), DS_ERR_NULL);
    FREE_ALL(f, xx, y, x);
    return test_summary();
}
