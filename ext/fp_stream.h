/* The P4Runtime stream (StreamChannel) read in C, on gRPC's C core (Debian's libgrpc),
 * outside grpcio's Python API: grpcio hands a Python program one message per read,
 * ~17 us of CPU each (so ~60,000 a second at most on one core), where a flood of
 * packet-ins needs them by the thousand.
 *
 * fp_stream_open() opens the channel and the stream call; a thread of the stream's own
 * reads every message the switch sends and keeps it, as it came, in one of two queues:
 * packet-ins (messages whose first byte is 0x12: field 2, `packet`, as protobuf writes
 * it), and everything else (arbitration, errors, digests, a packet-in written another
 * way). With `packet_cap` packet-ins waiting it reads no more until they are taken:
 * gRPC's flow control holds the switch back, nothing is dropped. The
 * eventfd fp_stream_fd() becomes readable when a queue that was empty gets a message
 * and when the stream ends; fp_stream_take() hands over both queues whole (valid until
 * the next take or close). fp_stream_send() queues a serialized StreamMessageRequest;
 * they go out one after the other, in order. fp_stream_close() cancels the call, waits
 * for the thread and frees everything; it is the only call after which `s` is gone.
 * Every function but close may be called from one thread at a time (the owner's),
 * beside the stream's own thread.
 */
#ifndef MOBILITY_FP_STREAM_H
#define MOBILITY_FP_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin: from here to cdef-end, ext/build_stream.py hands the text to cffi. */

typedef struct fp_stream fp_stream;

typedef struct fp_stream_batch {
    const uint8_t *packets;        /* packet-in messages end to end */
    size_t packets_len;
    const uint32_t *packet_lens;   /* each one's length */
    size_t n_packets;
    const uint8_t *others;         /* every other message, end to end */
    size_t others_len;
    const uint32_t *other_lens;
    size_t n_others;
    uint64_t first_ns;             /* when the first of the packet-ins came (CLOCK_MONOTONIC) */
    uint64_t lost;                 /* messages lost since open: no memory to keep them */
    int ended;                     /* the stream ended: its status follows */
    int status_code;               /* grpc_status_code */
    char status_message[256];
} fp_stream_batch;

/* NULL with the reason in err (err_len bytes of room) when it cannot start. */
fp_stream *fp_stream_open(const char *target, const char *method, size_t packet_cap,
                          char *err, size_t err_len);

int fp_stream_fd(const fp_stream *s);

/* 0, or -1 once the stream has ended (nothing sent), -2 out of memory. */
int fp_stream_send(fp_stream *s, const uint8_t *data, size_t len);

/* Both queues handed over into *out (emptied in the stream); 0, or -1 for NULL. */
int fp_stream_take(fp_stream *s, fp_stream_batch *out);

void fp_stream_close(fp_stream *s);

/* cdef-end */

#endif
