/* The P4Runtime stream read in C on gRPC's C core; see fp_stream.h for the contract.
 *
 * One completion queue per stream, drained by the stream's own thread. With `packet_cap`
 * packet-ins waiting it reads no further until they are taken (gRPC's flow control
 * then holds the switch back, as when grpcio's reader is busy), so nothing is dropped.
 * Four kinds of operation are ever in flight: the initial metadata, the status, one RECV_MESSAGE (the
 * next is started when one completes) and at most one SEND_MESSAGE. `inflight` counts
 * them under the mutex; when it falls to 0 (the status has come and every other
 * operation has finished) the queue is shut down and the thread ends.
 */
#define _GNU_SOURCE
#include "fp_stream.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum { PACKET_FIRST = 0x12 };
static char TAG_META, TAG_RECV, TAG_SEND, TAG_STATUS;   /* their addresses are the tags */

typedef struct queue {
    uint8_t *data;
    size_t len, cap;
    uint32_t *lens;
    size_t n, ncap;
} queue;

struct fp_stream {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    grpc_call *call;
    pthread_t thread;
    pthread_mutex_t mu;
    int efd;
    queue packets[2], others[2];   /* [0] filling, [1] handed over last */
    size_t packet_cap;
    uint64_t lost, first_ns[2];   /* when the packet-in queues' first message came */
    int inflight, ended, sending, paused;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array initial_md, trailing_md;
    grpc_byte_buffer *recv, *sent;
    grpc_byte_buffer **outbox;     /* sends waiting, a ring */
    size_t out_head, out_n, out_cap;
};

static void wake(fp_stream *s) {
    uint64_t one = 1;
    ssize_t rc = write(s->efd, &one, sizeof one);   /* full counter: already readable */
    (void)rc;
}

static int grow(queue *q, size_t more) {
    if (q->n == q->ncap) {
        size_t ncap = q->ncap ? 2 * q->ncap : 256;
        uint32_t *lens = realloc(q->lens, ncap * sizeof *lens);
        if (lens == NULL) return 0;
        q->lens = lens;
        q->ncap = ncap;
    }
    if (q->cap - q->len < more) {
        size_t cap = q->cap ? q->cap : 16384;
        while (cap - q->len < more) cap *= 2;
        uint8_t *data = realloc(q->data, cap);
        if (data == NULL) return 0;
        q->data = data;
        q->cap = cap;
    }
    return 1;
}

/* One message into its queue; under the mutex. 0: out of memory (the message lost). */
static int keep(fp_stream *s, grpc_byte_buffer *bb) {
    size_t len = grpc_byte_buffer_length(bb);
    grpc_byte_buffer_reader reader;
    if (len > 0xffffffffu || !grpc_byte_buffer_reader_init(&reader, bb)) return 0;
    grpc_slice slice;
    queue *q = NULL;
    size_t at = 0;
    int was_empty = s->packets[0].n == 0 && s->others[0].n == 0, ok = 1;
    while (grpc_byte_buffer_reader_next(&reader, &slice)) {
        size_t n = GRPC_SLICE_LENGTH(slice);
        const uint8_t *p = GRPC_SLICE_START_PTR(slice);
        if (q == NULL && ok && n > 0) {
            q = p[0] == PACKET_FIRST ? &s->packets[0] : &s->others[0];
            if (!grow(q, len)) ok = 0, q = NULL;
        }
        if (q != NULL) memcpy(q->data + q->len + at, p, n);
        at += n;
        grpc_slice_unref(slice);
    }
    grpc_byte_buffer_reader_destroy(&reader);
    if (!ok) return 0;
    if (q == NULL) {   /* an empty message: not a packet-in */
        q = &s->others[0];
        if (!grow(q, 0)) return 0;
    }
    if (q == &s->packets[0] && q->n == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s->first_ns[0] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    q->len += len;
    q->lens[q->n++] = (uint32_t)len;
    if (was_empty) wake(s);
    return 1;
}

static int start(fp_stream *s, grpc_op *ops, size_t n, void *tag) {
    if (grpc_call_start_batch(s->call, ops, n, tag, NULL) != GRPC_CALL_OK) return 0;
    s->inflight++;
    return 1;
}

static void start_recv(fp_stream *s) {
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    start(s, &op, 1, &TAG_RECV);
}

/* The next send waiting, if none is in flight; under the mutex. */
static void start_send(fp_stream *s) {
    if (s->sending || s->out_n == 0 || s->ended) return;
    grpc_byte_buffer *bb = s->outbox[s->out_head];
    s->out_head = (s->out_head + 1) % s->out_cap;
    s->out_n--;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    s->sent = bb;
    if (start(s, &op, 1, &TAG_SEND)) {
        s->sending = 1;
    } else {
        grpc_byte_buffer_destroy(bb);
        s->sent = NULL;
    }
}

static void *reader(void *arg) {
    fp_stream *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                   NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type != GRPC_OP_COMPLETE) continue;
        pthread_mutex_lock(&s->mu);
        if (ev.tag == &TAG_RECV) {
            grpc_byte_buffer *bb = s->recv;
            s->recv = NULL;
            if (bb != NULL) {
                if (!keep(s, bb)) s->lost++;
                grpc_byte_buffer_destroy(bb);
            }
            if (ev.success && bb != NULL && !s->ended) {
                if (s->packets[0].n < s->packet_cap) start_recv(s);
                else s->paused = 1;   /* the owner's take reads on */
            }
        } else if (ev.tag == &TAG_SEND) {
            if (s->sent != NULL) grpc_byte_buffer_destroy(s->sent);
            s->sent = NULL;
            s->sending = 0;
            if (ev.success) start_send(s);
        } else if (ev.tag == &TAG_STATUS) {
            s->ended = 1;
            wake(s);
        }
        if (--s->inflight == 0) grpc_completion_queue_shutdown(s->cq);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void free_queue(queue *q) {
    free(q->data);
    free(q->lens);
}

static void destroy(fp_stream *s) {
    if (s->call != NULL) grpc_call_unref(s->call);
    if (s->cq != NULL) grpc_completion_queue_destroy(s->cq);
    if (s->channel != NULL) grpc_channel_destroy(s->channel);
    for (size_t i = 0; i < s->out_n; i++)
        grpc_byte_buffer_destroy(s->outbox[(s->out_head + i) % s->out_cap]);
    free(s->outbox);
    for (int i = 0; i < 2; i++) {
        free_queue(&s->packets[i]);
        free_queue(&s->others[i]);
    }
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    if (s->efd >= 0) close(s->efd);
    pthread_mutex_destroy(&s->mu);
    free(s);
    grpc_shutdown();
}

fp_stream *fp_stream_open(const char *target, const char *method, size_t packet_cap,
                          char *err, size_t err_len) {
    if (target == NULL || method == NULL || err == NULL || err_len == 0) return NULL;
    grpc_init();
    fp_stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, err_len, "out of memory");
        grpc_shutdown();
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->packet_cap = packet_cap;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        snprintf(err, err_len, "eventfd failed");
        destroy(s);
        return NULL;
    }
    /* A subchannel of its own, as ctrl/p4rt/client.py's channels (CHANNEL_OPTIONS). */
    grpc_arg arg;
    memset(&arg, 0, sizeof arg);
    arg.type = GRPC_ARG_INTEGER;
    arg.key = (char *)"grpc.use_local_subchannel_pool";
    arg.value.integer = 1;
    grpc_channel_args args = {1, &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    s->channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    s->call = grpc_channel_create_call(s->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, m,
                                       NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice_unref(m);
    if (s->call == NULL) {
        snprintf(err, err_len, "cannot make a call to %s", target);
        grpc_completion_queue_shutdown(s->cq);
        grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        destroy(s);
        return NULL;
    }
    grpc_op meta[2], status;
    memset(meta, 0, sizeof meta);
    memset(&status, 0, sizeof status);
    meta[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    meta[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    meta[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    status.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    status.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    status.data.recv_status_on_client.status = &s->status;
    status.data.recv_status_on_client.status_details = &s->details;
    pthread_mutex_lock(&s->mu);
    int ok = start(s, meta, 2, &TAG_META) && start(s, &status, 1, &TAG_STATUS);
    if (ok) start_recv(s);
    pthread_mutex_unlock(&s->mu);
    if (!ok || pthread_create(&s->thread, NULL, reader, s) != 0) {
        snprintf(err, err_len, "cannot start the stream to %s", target);
        grpc_call_cancel(s->call, NULL);
        if (s->inflight > 0) {   /* drain here what was started */
            while (s->inflight > 0) {
                grpc_event ev = grpc_completion_queue_next(
                    s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                if (ev.type == GRPC_OP_COMPLETE) s->inflight--;
            }
        }
        if (s->recv != NULL) grpc_byte_buffer_destroy(s->recv);
        grpc_completion_queue_shutdown(s->cq);
        grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        destroy(s);
        return NULL;
    }
    return s;
}

int fp_stream_fd(const fp_stream *s) { return s == NULL ? -1 : s->efd; }

int fp_stream_send(fp_stream *s, const uint8_t *data, size_t len) {
    if (s == NULL || (data == NULL && len > 0)) return -1;
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->ended) {
        rc = -1;
    } else if (s->out_n == s->out_cap) {
        size_t cap = s->out_cap ? 2 * s->out_cap : 16;
        grpc_byte_buffer **ring = malloc(cap * sizeof *ring);
        if (ring == NULL) {
            rc = -2;
        } else {
            for (size_t i = 0; i < s->out_n; i++)
                ring[i] = s->outbox[(s->out_head + i) % s->out_cap];
            free(s->outbox);
            s->outbox = ring;
            s->out_head = 0;
            s->out_cap = cap;
        }
    }
    if (rc == 0) {
        s->outbox[(s->out_head + s->out_n) % s->out_cap] = bb;
        s->out_n++;
        start_send(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) grpc_byte_buffer_destroy(bb);
    return rc;
}

int fp_stream_take(fp_stream *s, fp_stream_batch *out) {
    if (s == NULL || out == NULL) return -1;
    pthread_mutex_lock(&s->mu);
    queue tp = s->packets[1], to = s->others[1];
    s->packets[1] = s->packets[0];
    s->others[1] = s->others[0];
    tp.len = tp.n = to.len = to.n = 0;
    s->packets[0] = tp;
    s->others[0] = to;
    s->first_ns[1] = s->first_ns[0];
    const queue *p = &s->packets[1], *o = &s->others[1];
    out->packets = p->data;
    out->packets_len = p->len;
    out->packet_lens = p->lens;
    out->n_packets = p->n;
    out->first_ns = s->first_ns[1];
    out->others = o->data;
    out->others_len = o->len;
    out->other_lens = o->lens;
    out->n_others = o->n;
    out->lost = s->lost;
    if (s->paused && !s->ended) {   /* room again: the next message is read */
        s->paused = 0;
        start_recv(s);
    }
    out->ended = s->ended;
    out->status_code = s->ended ? (int)s->status : 0;
    size_t n = GRPC_SLICE_LENGTH(s->details);
    if (n >= sizeof out->status_message) n = sizeof out->status_message - 1;
    memcpy(out->status_message, GRPC_SLICE_START_PTR(s->details), s->ended ? n : 0);
    out->status_message[s->ended ? n : 0] = '\0';
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void fp_stream_close(fp_stream *s) {
    if (s == NULL) return;
    grpc_call_cancel(s->call, NULL);
    pthread_join(s->thread, NULL);
    if (s->sent != NULL) grpc_byte_buffer_destroy(s->sent);
    if (s->recv != NULL) grpc_byte_buffer_destroy(s->recv);
    destroy(s);
}
