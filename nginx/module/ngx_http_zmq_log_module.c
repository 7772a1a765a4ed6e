/*
 * ngx_http_zmq_log_module: usage records from nginx's own log_format, shipped
 * through libzmq_adaptor (include/zmq_adaptor.h) to the zmq-adaptor.
 *
 *   zmq_log_endpoint ENDPOINT;              http
 *   zmq_log_queue_records N;                http
 *   zmq_log_queue_bytes SIZE;               http
 *   zmq_log_curve_server FILE;              http
 *   zmq_log_curve_secret FILE;              http
 *   zmq_log FORMAT [topic=STRING] [if=CONDITION];   http, server, location
 *   zmq_log off;
 *
 * zmq_log works like access_log: FORMAT names a log_format (escape=json, variables
 * and maps as usual); a level with its own zmq_log lines replaces the inherited
 * ones; if= skips a request when the value is empty or "0". Each line queues one
 * record (exactly the formatted line, no newline) with zmq_adaptor_log(), or a
 * [topic, record] message with zmq_adaptor_publish() when topic= is given.
 *
 * Formats are not compiled here: the module uses the ones ngx_http_log_module
 * compiled for log_format, so a record is byte for byte what access_log would
 * write. That module keeps them in its main configuration, whose types are private
 * to ngx_http_log_module.c: they are mirrored below. They have been the same from
 * nginx 1.7 to 1.31.1; 1.31.2 added an "end" argument to the op functions (handled
 * below). Each element size is checked against nginx's own arrays at configuration
 * time, so a layout change fails "nginx -t" instead of corrupting memory, and
 * load_module refuses a module built for another nginx version.
 *
 * zmq_log_curve_server and zmq_log_curve_secret (together) make the workers CURVE
 * clients of the adaptor: FILE is the adaptor's public certificate (NAME.key) and
 * this gateway's secret certificate (NAME.key_secret, readable by its owner only),
 * as `zmq-adaptor keygen` writes them. The master reads both at configuration time
 * (so the secret file can belong to root), and the keys reach the workers in
 * memory only; they are wiped when the configuration is released.
 *
 * The log handler never blocks (zmq_adaptor_log only copies into a bounded queue) and
 * never changes the response: a record the library refuses (queue full, too large)
 * is counted by the library; the module writes at most one error-log line a second
 * per worker naming the reason and how many records were refused.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <dlfcn.h>
#include <sys/wait.h>

#include <zmq_adaptor.h>


/* Mirrors of ngx_http_log_module.c's private types (see the comment above). */

typedef struct ngx_http_zmq_log_op_s  ngx_http_zmq_log_op_t;

/* the op function: (r, buf, op) in nginx <= 1.31.1, (r, buf, end, op) since */
typedef u_char *(*ngx_http_zmq_log_op_run_pt) (ngx_http_request_t *r,
    u_char *buf, ngx_http_zmq_log_op_t *op);
typedef u_char *(*ngx_http_zmq_log_op_run_end_pt) (ngx_http_request_t *r,
    u_char *buf, u_char *end, ngx_http_zmq_log_op_t *op);

typedef size_t (*ngx_http_zmq_log_op_getlen_pt) (ngx_http_request_t *r,
    uintptr_t data);

struct ngx_http_zmq_log_op_s {
    size_t                          len;
    ngx_http_zmq_log_op_getlen_pt   getlen;
    ngx_http_zmq_log_op_run_pt      run;
    uintptr_t                       data;
};

typedef struct {
    ngx_str_t                       name;
    ngx_array_t                    *flushes;
    ngx_array_t                    *ops;        /* of ngx_http_zmq_log_op_t */
} ngx_http_zmq_log_fmt_t;

typedef struct {
    ngx_array_t                     formats;    /* of ngx_http_zmq_log_fmt_t */
    ngx_uint_t                      combined_used;
} ngx_http_zmq_log_formats_t;

extern ngx_module_t  ngx_http_log_module;


/* This module's configuration. */

typedef struct {
    ngx_http_zmq_log_fmt_t         *format;
    ngx_http_complex_value_t       *topic;      /* NULL: one-frame record */
    ngx_http_complex_value_t       *filter;     /* if= */
} ngx_http_zmq_log_t;

typedef struct {
    ngx_str_t                       endpoint;   /* data NULL: not set */
    size_t                          queue_records;
    size_t                          queue_bytes;
    ngx_str_t                       curve_server;   /* file; data NULL: not set */
    ngx_str_t                       curve_secret;   /* file; data NULL: not set */
    zmq_adaptor_curve_keys         *curve;      /* read from them; NULL: none */
    ngx_flag_t                      used;       /* some zmq_log line logs */
} ngx_http_zmq_log_main_conf_t;

typedef struct {
    ngx_array_t                    *logs;       /* of ngx_http_zmq_log_t */
    ngx_flag_t                      off;
} ngx_http_zmq_log_loc_conf_t;


static ngx_int_t ngx_http_zmq_log_handler(ngx_http_request_t *r);
static void ngx_http_zmq_log_refused(ngx_http_request_t *r, int rc);
static ngx_int_t ngx_http_zmq_log_start_msec_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static int ngx_http_zmq_log_probe(zmq_adaptor_config *cfg);
static void ngx_http_zmq_log_fill_config(ngx_http_zmq_log_main_conf_t *zmcf,
    zmq_adaptor_config *cfg);
static char *ngx_http_zmq_log_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_zmq_log_queue_records(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_zmq_log_queue_bytes(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_zmq_log_set_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_zmq_log_curve_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_zmq_log_load_curve(ngx_conf_t *cf,
    ngx_http_zmq_log_main_conf_t *zmcf);
static void ngx_http_zmq_log_wipe_curve(void *data);
static ngx_int_t ngx_http_zmq_log_add_variables(ngx_conf_t *cf);
static void *ngx_http_zmq_log_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_zmq_log_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_zmq_log_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_zmq_log_detect_op_end(ngx_conf_t *cf);
static ngx_int_t ngx_http_zmq_log_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_zmq_log_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_zmq_log_init_process(ngx_cycle_t *cycle);
static void ngx_http_zmq_log_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_zmq_log_commands[] = {

    { ngx_string("zmq_log_endpoint"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_zmq_log_endpoint,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zmq_log_queue_records"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_zmq_log_queue_records,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zmq_log_queue_bytes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_zmq_log_queue_bytes,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("zmq_log_curve_server"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_zmq_log_curve_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_zmq_log_main_conf_t, curve_server),
      NULL },

    { ngx_string("zmq_log_curve_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_zmq_log_curve_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_zmq_log_main_conf_t, curve_secret),
      NULL },

    { ngx_string("zmq_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF
                        |NGX_HTTP_LMT_CONF|NGX_CONF_1MORE,
      ngx_http_zmq_log_set_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_zmq_log_module_ctx = {
    ngx_http_zmq_log_add_variables,        /* preconfiguration */
    ngx_http_zmq_log_init,                 /* postconfiguration */

    ngx_http_zmq_log_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_zmq_log_create_loc_conf,      /* create location configuration */
    ngx_http_zmq_log_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_zmq_log_module = {
    NGX_MODULE_V1,
    &ngx_http_zmq_log_module_ctx,          /* module context */
    ngx_http_zmq_log_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_zmq_log_init_module,          /* init module */
    ngx_http_zmq_log_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_zmq_log_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_zmq_log_start_msec_name =
    ngx_string("zmq_log_start_msec");


#define NGX_HTTP_ZMQ_LOG_BUF_MAX  65536


/*
 * Per worker process (log handlers run on the worker's event loop thread only): the
 * buffer records are formatted into, and the rate limit of the error-log line.
 */
static u_char      *ngx_http_zmq_log_buf;
static size_t       ngx_http_zmq_log_buf_size;
static time_t       ngx_http_zmq_log_report_time;
static ngx_uint_t   ngx_http_zmq_log_refused_count;
static int          ngx_http_zmq_log_last_rc;

/* -1: not known yet; 0: op functions take (r, buf, op); 1: (r, buf, end, op) */
static ngx_int_t    ngx_http_zmq_log_op_end = -1;


static ngx_int_t
ngx_http_zmq_log_handler(ngx_http_request_t *r)
{
    int                           rc;
    u_char                       *buf, *p;
    size_t                        len, size;
    ngx_str_t                     val, topic;
    ngx_uint_t                    i, l;
    ngx_http_zmq_log_t           *log;
    ngx_http_zmq_log_op_t        *op;
    ngx_http_zmq_log_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_zmq_log_module);

    if (lcf->off || lcf->logs == NULL) {
        return NGX_OK;
    }

    log = lcf->logs->elts;

    for (l = 0; l < lcf->logs->nelts; l++) {

        if (log[l].filter) {
            if (ngx_http_complex_value(r, log[l].filter, &val) != NGX_OK) {
                continue;
            }

            if (val.len == 0 || (val.len == 1 && val.data[0] == '0')) {
                continue;
            }
        }

        ngx_http_script_flush_no_cacheable_variables(r,
                                                     log[l].format->flushes);

        len = 0;
        op = log[l].format->ops->elts;
        for (i = 0; i < log[l].format->ops->nelts; i++) {
            len += op[i].len ? op[i].len : op[i].getlen(r, op[i].data);
        }

        if (len <= ngx_http_zmq_log_buf_size) {
            buf = ngx_http_zmq_log_buf;

        } else if (len > NGX_HTTP_ZMQ_LOG_BUF_MAX) {
            /* rare: not worth keeping a large buffer for the process's life */
            buf = ngx_pnalloc(r->pool, len);
            if (buf == NULL) {
                continue;
            }

        } else {
            /* grows to the largest record seen (up to the bound); never shrinks */
            size = ngx_max(len, 4096);
            buf = ngx_alloc(size, r->connection->log);

            if (buf != NULL) {
                if (ngx_http_zmq_log_buf) {
                    ngx_free(ngx_http_zmq_log_buf);
                }

                ngx_http_zmq_log_buf = buf;
                ngx_http_zmq_log_buf_size = size;

            } else {
                buf = ngx_pnalloc(r->pool, len);
                if (buf == NULL) {
                    continue;
                }
            }
        }

        p = buf;
        for (i = 0; i < log[l].format->ops->nelts && p; i++) {
            p = ngx_http_zmq_log_op_end
                ? ((ngx_http_zmq_log_op_run_end_pt) (void *) op[i].run)
                      (r, p, buf + len, &op[i])
                : op[i].run(r, p, &op[i]);
        }

        if (p == NULL) {
            continue;
        }

        if (log[l].topic == NULL) {
            rc = zmq_adaptor_log(buf, p - buf);

        } else {
            if (ngx_http_complex_value(r, log[l].topic, &topic) != NGX_OK) {
                continue;
            }

            rc = zmq_adaptor_publish(topic.data, topic.len, buf, p - buf);
        }

        if (rc != ZMQ_ADAPTOR_OK) {
            ngx_http_zmq_log_refused(r, rc);
        }
    }

    return NGX_OK;
}


static void
ngx_http_zmq_log_refused(ngx_http_request_t *r, int rc)
{
    time_t  now;

    ngx_http_zmq_log_refused_count++;
    ngx_http_zmq_log_last_rc = rc;

    now = ngx_time();

    if (now == ngx_http_zmq_log_report_time) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "zmq_log: record not queued: %s "
                  "(%ui not queued since the last report)",
                  zmq_adaptor_strerror(rc), ngx_http_zmq_log_refused_count);

    ngx_http_zmq_log_refused_count = 0;
    ngx_http_zmq_log_report_time = now;
}


static ngx_int_t
ngx_http_zmq_log_start_msec_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%T.%03M", r->main->start_sec,
                         r->main->start_msec) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


/*
 * Asks the library whether it accepts cfg, without changing this process: the
 * check runs in a short-lived child (zmq_adaptor_configure creates no ZeroMQ object
 * and the library resets its per-process state in a forked child), so the master's
 * own configuration - and one a Lua init_by_lua may set - stays untouched. Returns
 * the library's result code, or -1 when the check could not run.
 */
static int
ngx_http_zmq_log_probe(zmq_adaptor_config *cfg)
{
    int    status;
    pid_t  pid;

    pid = fork();

    if (pid == -1) {
        return -1;
    }

    if (pid == 0) {
        _exit(zmq_adaptor_configure(cfg));
    }

    while (waitpid(pid, &status, 0) == -1) {
        if (ngx_errno != NGX_EINTR) {
            return -1;
        }
    }

    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


static void
ngx_http_zmq_log_fill_config(ngx_http_zmq_log_main_conf_t *zmcf,
    zmq_adaptor_config *cfg)
{
    zmq_adaptor_config_init(cfg);

    if (zmcf->endpoint.data) {
        cfg->endpoint = (const char *) zmcf->endpoint.data;
    }

    if (zmcf->queue_records != NGX_CONF_UNSET_SIZE) {
        cfg->queue_records = zmcf->queue_records;
    }

    if (zmcf->curve) {
        cfg->curve_server_key = zmcf->curve->server_key;
        cfg->curve_public_key = zmcf->curve->public_key;
        cfg->curve_secret_key = zmcf->curve->secret_key;
    }

    if (zmcf->queue_bytes != NGX_CONF_UNSET_SIZE) {
        cfg->queue_bytes = zmcf->queue_bytes;

        /* a queue smaller than one default record takes records up to its size */
        if (cfg->max_record_bytes > cfg->queue_bytes) {
            cfg->max_record_bytes = cfg->queue_bytes;
        }
    }
}


static char *
ngx_http_zmq_log_check(ngx_conf_t *cf, ngx_http_zmq_log_main_conf_t *zmcf,
    ngx_str_t *value)
{
    int                 rc;
    zmq_adaptor_config  cfg;

    ngx_http_zmq_log_fill_config(zmcf, &cfg);

    rc = ngx_http_zmq_log_probe(&cfg);

    if (rc == ZMQ_ADAPTOR_OK) {
        return NGX_CONF_OK;
    }

    if (rc == -1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, ngx_errno,
                           "\"%V\" could not be checked now; "
                           "the workers will report a bad value", value);
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\" in \"%V\": %s",
                       &value[1], &value[0], zmq_adaptor_strerror(rc));

    return NGX_CONF_ERROR;
}


static char *
ngx_http_zmq_log_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zmq_log_main_conf_t *zmcf = conf;

    ngx_str_t  *value;

    if (zmcf->endpoint.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"zmq_log_endpoint\" must not be empty");
        return NGX_CONF_ERROR;
    }

    zmcf->endpoint.len = value[1].len;
    zmcf->endpoint.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (zmcf->endpoint.data == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(zmcf->endpoint.data, value[1].data, value[1].len + 1);

    return ngx_http_zmq_log_check(cf, zmcf, value);
}


static char *
ngx_http_zmq_log_queue_records(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zmq_log_main_conf_t *zmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (zmcf->queue_records != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": "
                           "a number of records (1 or more) is expected",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    zmcf->queue_records = (size_t) n;

    return ngx_http_zmq_log_check(cf, zmcf, value);
}


static char *
ngx_http_zmq_log_queue_bytes(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zmq_log_main_conf_t *zmcf = conf;

    ssize_t     n;
    ngx_str_t  *value;

    if (zmcf->queue_bytes != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_parse_size(&value[1]);
    if (n == NGX_ERROR || n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": a size "
                           "(bytes, or with k or m, at least 1) is expected",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    zmcf->queue_bytes = (size_t) n;

    return ngx_http_zmq_log_check(cf, zmcf, value);
}


/* zmq_log_curve_server / zmq_log_curve_secret: the file's path, from the prefix */
static char *
ngx_http_zmq_log_curve_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *field, *value, name;

    field = (ngx_str_t *) ((char *) conf + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (name.len == 0) {
        return "must name a certificate file";
    }

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* NUL-terminated for the library */
    field->len = name.len;
    field->data = ngx_pnalloc(cf->pool, name.len + 1);
    if (field->data == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(field->data, name.data, name.len + 1);

    return NGX_CONF_OK;
}


/*
 * After the http block: reads the two certificates (both or neither) into memory
 * that is wiped when this configuration is released, then checks the whole
 * zmq_log_* configuration with the keys.
 */
static ngx_int_t
ngx_http_zmq_log_load_curve(ngx_conf_t *cf, ngx_http_zmq_log_main_conf_t *zmcf)
{
    int                  rc;
    u_char               err[512];
    ngx_pool_cleanup_t  *cln;
    zmq_adaptor_config   cfg;

    if (zmcf->curve_server.data == NULL && zmcf->curve_secret.data == NULL) {
        return NGX_OK;
    }

    if (zmcf->curve_server.data == NULL || zmcf->curve_secret.data == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"zmq_log_curve_server\" and \"zmq_log_curve_secret\" "
                      "go together: give the adaptor's public certificate and "
                      "this gateway's secret certificate");
        return NGX_ERROR;
    }

    zmcf->curve = ngx_pcalloc(cf->pool, sizeof(zmq_adaptor_curve_keys));
    if (zmcf->curve == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_zmq_log_wipe_curve;
    cln->data = zmcf->curve;

    err[0] = '\0';
    rc = zmq_adaptor_curve_keys_load((const char *) zmcf->curve_server.data,
                                     (const char *) zmcf->curve_secret.data,
                                     zmcf->curve, (char *) err, sizeof(err));

    if (rc != ZMQ_ADAPTOR_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "zmq_log CURVE certificates: %s: %s",
                      zmq_adaptor_strerror(rc), err);
        return NGX_ERROR;
    }

    ngx_http_zmq_log_fill_config(zmcf, &cfg);

    rc = ngx_http_zmq_log_probe(&cfg);

    if (rc != ZMQ_ADAPTOR_OK && rc != -1) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "zmq_log CURVE certificates with this configuration: %s",
                      zmq_adaptor_strerror(rc));
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_zmq_log_wipe_curve(void *data)
{
    ngx_explicit_memzero(data, sizeof(zmq_adaptor_curve_keys));
}


static char *
ngx_http_zmq_log_set_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_zmq_log_loc_conf_t *lcf = conf;

    ngx_str_t                           *value, s;
    ngx_uint_t                           i;
    ngx_http_zmq_log_t                  *log;
    ngx_http_zmq_log_fmt_t              *fmt;
    ngx_http_zmq_log_formats_t          *lmcf;
    ngx_http_zmq_log_main_conf_t        *zmcf;
    ngx_http_compile_complex_value_t     ccv;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": "
                               "\"zmq_log off\" takes no parameters", &value[2]);
            return NGX_CONF_ERROR;
        }

        lcf->off = 1;
        return NGX_CONF_OK;
    }

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_log_module);

    if (lmcf == NULL
        || lmcf->formats.size != sizeof(ngx_http_zmq_log_fmt_t))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the log_format storage of this nginx is not the "
                           "one ngx_http_zmq_log_module was built for: "
                           "rebuild the module against this nginx");
        return NGX_CONF_ERROR;
    }

    fmt = lmcf->formats.elts;
    for (i = 0; i < lmcf->formats.nelts; i++) {
        if (fmt[i].name.len == value[1].len
            && ngx_strcmp(fmt[i].name.data, value[1].data) == 0)
        {
            break;
        }
    }

    if (i == lmcf->formats.nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown log format \"%V\" in \"zmq_log\" "
                           "(define it with log_format before this line)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    fmt = &fmt[i];

    if (fmt->ops == NULL || fmt->ops->size != sizeof(ngx_http_zmq_log_op_t)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the log_format \"%V\" is not stored the way "
                           "ngx_http_zmq_log_module was built for: "
                           "rebuild the module against this nginx", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[1].data, "combined") == 0) {
        /* ngx_http_log_module compiles "combined" only when it is used */
        lmcf->combined_used = 1;
    }

    if (lcf->logs == NULL) {
        lcf->logs = ngx_array_create(cf->pool, 2, sizeof(ngx_http_zmq_log_t));
        if (lcf->logs == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    log = ngx_array_push(lcf->logs);
    if (log == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(log, sizeof(ngx_http_zmq_log_t));
    log->format = fmt;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "topic=", 6) == 0
            || ngx_strncmp(value[i].data, "if=", 3) == 0)
        {
            if (value[i].data[0] == 't') {
                if (log->topic) {
                    return "has a duplicate \"topic=\" parameter";
                }

                s.len = value[i].len - 6;
                s.data = value[i].data + 6;

                if (s.len == 0) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "empty \"topic=\" in \"zmq_log\"");
                    return NGX_CONF_ERROR;
                }

            } else {
                if (log->filter) {
                    return "has a duplicate \"if=\" parameter";
                }

                s.len = value[i].len - 3;
                s.data = value[i].data + 3;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = ngx_palloc(cf->pool,
                                           sizeof(ngx_http_complex_value_t));
            if (ccv.complex_value == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 't') {
                log->topic = ccv.complex_value;

            } else {
                log->filter = ccv.complex_value;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"zmq_log\" "
                           "(expected topic=STRING or if=CONDITION)",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    zmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_zmq_log_module);
    zmcf->used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_zmq_log_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_zmq_log_start_msec_name,
                                NGX_HTTP_VAR_NOHASH);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_zmq_log_start_msec_variable;

    return NGX_OK;
}


static void *
ngx_http_zmq_log_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_zmq_log_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_zmq_log_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /* conf->endpoint = { 0, NULL }; conf->used = 0; */

    conf->queue_records = NGX_CONF_UNSET_SIZE;
    conf->queue_bytes = NGX_CONF_UNSET_SIZE;

    return conf;
}


static void *
ngx_http_zmq_log_create_loc_conf(ngx_conf_t *cf)
{
    /* logs = NULL (not set at this level), off = 0 */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_zmq_log_loc_conf_t));
}


static char *
ngx_http_zmq_log_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_zmq_log_loc_conf_t *prev = parent;
    ngx_http_zmq_log_loc_conf_t *conf = child;

    /* as access_log: own lines (or "off") replace the inherited ones */

    if (conf->logs || conf->off) {
        return NGX_CONF_OK;
    }

    conf->logs = prev->logs;
    conf->off = prev->off;

    return NGX_CONF_OK;
}


/*
 * Finds out which op function signature this nginx binary has. The nginx version
 * does not tell: distributions backport the change (Debian 12's 1.22.1-9+deb12u11
 * has it). The probe asks ngx_http_log_module itself: its own log_format handler
 * compiles a literal-only format (one copy op: copies op->len bytes, never reads r),
 * which is called as (r, buf, end, op) with "end" pointing at a copy of the op whose
 * len is smaller. A (r, buf, op) function takes that copy for its op and copies
 * fewer bytes; an (r, buf, end, op) function checks buf..end (large enough) and
 * copies the full literal. Both readings are memory-safe. (Calling a 3-parameter
 * function with 4 arguments is what the x86-64 and AArch64 calling conventions
 * allow: the extra argument is ignored.)
 */
static ngx_int_t
ngx_http_zmq_log_detect_op_end(ngx_conf_t *cf)
{
    u_char                          *p;
    char                            *rv;
    ngx_str_t                       *arg;
    ngx_uint_t                       n;
    ngx_array_t                      args, *saved;
    ngx_command_t                   *cmd;
    ngx_http_zmq_log_fmt_t          *fmt;
    ngx_http_zmq_log_op_t           *op;
    ngx_http_zmq_log_formats_t      *lmcf;

    static u_char  literal[] = "zmq_log op probe";   /* 16 bytes */

    struct {
        u_char                  buf[64];
        ngx_http_zmq_log_op_t   fake;
    } area;

    if (ngx_http_zmq_log_op_end != -1) {
        return NGX_OK;
    }

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_log_module);

    for (cmd = ngx_http_log_module.commands; cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, "log_format") == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        goto failed;
    }

    if (ngx_array_init(&args, cf->temp_pool, 3, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    arg = ngx_array_push_n(&args, 3);
    if (arg == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&arg[0], "log_format");
    ngx_str_set(&arg[1], "zmq_log_op_probe");
    arg[2].len = sizeof(literal) - 1;
    arg[2].data = literal;

    n = lmcf->formats.nelts;
    saved = cf->args;
    cf->args = &args;
    rv = cmd->set(cf, cmd, lmcf);
    cf->args = saved;

    if (rv != NGX_CONF_OK || lmcf->formats.nelts != n + 1) {
        goto failed;
    }

    fmt = lmcf->formats.elts;
    fmt = &fmt[n];

    if (fmt->ops == NULL || fmt->ops->nelts != 1) {
        goto failed;
    }

    op = fmt->ops->elts;

    if (op->getlen != NULL || op->len != sizeof(literal) - 1) {
        goto failed;
    }

    ngx_memzero(&area, sizeof(area));
    area.fake = *op;
    area.fake.len = 4;

    p = ((ngx_http_zmq_log_op_run_end_pt) (void *) op->run)
            (NULL, area.buf, (u_char *) &area.fake, op);

    if (p == area.buf + 4 && ngx_memcmp(area.buf, literal, 4) == 0) {
        ngx_http_zmq_log_op_end = 0;
        return NGX_OK;
    }

    if (p == area.buf + op->len
        && ngx_memcmp(area.buf, literal, op->len) == 0)
    {
        ngx_http_zmq_log_op_end = 1;
        return NGX_OK;
    }

failed:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "zmq_log: the log_format internals of this nginx are "
                       "not the ones ngx_http_zmq_log_module knows: "
                       "rebuild the module against this nginx");
    return NGX_ERROR;
}


static ngx_int_t
ngx_http_zmq_log_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_zmq_log_main_conf_t  *zmcf;

    zmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_zmq_log_module);

    if (ngx_http_zmq_log_load_curve(cf, zmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!zmcf->used) {
        return NGX_OK;
    }

    if (ngx_http_zmq_log_detect_op_end(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_zmq_log_handler;

    return NGX_OK;
}


/*
 * Keeps libzmq_adaptor.so mapped for the life of the process: nginx unloads the
 * modules of an old cycle on reload, and the library's process hooks (fork, exit)
 * must stay valid once registered.
 */
static ngx_int_t
ngx_http_zmq_log_init_module(ngx_cycle_t *cycle)
{
    Dl_info  info;

    if (dladdr((void *) zmq_adaptor_log, &info) != 0 && info.dli_fname) {
        (void) dlopen(info.dli_fname, RTLD_NOW|RTLD_NOLOAD|RTLD_NODELETE);
    }

    return NGX_OK;
}


/*
 * The library's own lines (the exit accounting line with undelivered=N, connection
 * errors) go to nginx's error log at their level. syslog levels 3..6 map to
 * NGX_LOG_ERR..NGX_LOG_INFO. ngx_cycle->log stays valid up to the worker's exit()
 * (nginx switches it to a static exit log first), when the accounting line comes.
 */
static void
ngx_http_zmq_log_library_log(int level, const char *msg, size_t len, void *user)
{
    ngx_uint_t  l;

    (void) user;
    l = (ngx_uint_t) (level < 3 ? 3 : (level > 6 ? 6 : level)) + 1;
    if (ngx_cycle == NULL || ngx_cycle->log == NULL) {
        return;
    }
    ngx_log_error(l, ngx_cycle->log, 0, "zmq_logger: %*s", len, msg);
}


/* worker_shutdown_timeout of the running cycle, for the library's exit wait. */
static uint32_t
ngx_http_zmq_log_shutdown_timeout(void)
{
    ngx_core_conf_t  *ccf;

    if (ngx_cycle == NULL || ngx_cycle->conf_ctx == NULL) {
        return 0;
    }
    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx, ngx_core_module);
    if (ccf == NULL || ccf->shutdown_timeout == NGX_CONF_UNSET_MSEC) {
        return 0;
    }
    return (uint32_t) ngx_min(ccf->shutdown_timeout, (ngx_msec_t) 0xffffffff);
}


/*
 * In each worker, after fork, as the library requires: passes the zmq_log_*
 * settings to zmq_adaptor_configure. Nothing is configured when none is set, so a
 * configure() from Lua's init_by_lua (inherited from the master) stays in force.
 */
static ngx_int_t
ngx_http_zmq_log_init_process(ngx_cycle_t *cycle)
{
    int                            rc;
    zmq_adaptor_config             cfg;
    ngx_http_zmq_log_main_conf_t  *zmcf;

    zmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_zmq_log_module);

    (void) zmq_adaptor_set_log_callback(ngx_http_zmq_log_library_log, NULL);
    /* The exit wait never keeps an old worker past worker_shutdown_timeout. */
    (void) zmq_adaptor_watch_shutdown((const size_t *) &ngx_exiting,
                                      ngx_http_zmq_log_shutdown_timeout);

    if (zmcf == NULL
        || (zmcf->endpoint.data == NULL
            && zmcf->queue_records == NGX_CONF_UNSET_SIZE
            && zmcf->queue_bytes == NGX_CONF_UNSET_SIZE
            && zmcf->curve == NULL))
    {
        return NGX_OK;
    }

    ngx_http_zmq_log_fill_config(zmcf, &cfg);

    rc = zmq_adaptor_configure(&cfg);

    if (rc != ZMQ_ADAPTOR_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "zmq_log: zmq_adaptor_configure() failed: %s; "
                      "records use the configuration in force",
                      zmq_adaptor_strerror(rc));
    }

    return NGX_OK;
}


static void
ngx_http_zmq_log_exit_process(ngx_cycle_t *cycle)
{
    /*
     * Deliver and account now, while this module (the log callback) is mapped:
     * nginx unloads modules in its pool cleanup before exit() runs atexit hooks.
     */
    (void) zmq_adaptor_shutdown(0);
    (void) zmq_adaptor_set_log_callback(NULL, NULL);

    if (ngx_http_zmq_log_refused_count) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "zmq_log: record not queued: %s "
                      "(%ui not queued since the last report)",
                      zmq_adaptor_strerror(ngx_http_zmq_log_last_rc),
                      ngx_http_zmq_log_refused_count);
        ngx_http_zmq_log_refused_count = 0;
    }

    if (ngx_http_zmq_log_buf) {
        ngx_free(ngx_http_zmq_log_buf);
        ngx_http_zmq_log_buf = NULL;
        ngx_http_zmq_log_buf_size = 0;
    }
}
