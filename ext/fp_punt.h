/* Packet-ins off the P4Runtime stream, as columns: many StreamMessageResponse messages
 * per call decoded and their frames parsed (fp_packet_ins), and the frames that would
 * change nothing told apart from the few that do (fp_quiet_filter).
 *
 * fp_packet_ins() reads n serialized p4.v1.StreamMessageResponse messages laid end to
 * end in one buffer (lens[i] bytes each). For a message that is one PacketIn it parses
 * the payload into out[i] (as fp_parse_batch does) with the packet-in metadata named
 * by `spec` copied into out[i].meta, sets starts[i] to where the payload begins in the
 * buffer and status[i] to FP_MSG_PACKET. Anything else gets FP_MSG_OTHER (an
 * arbitration update, an error, or a PacketIn written in a shape this decoder leaves
 * to protobuf: a field repeated, a group, a tag in more than 5 bytes, a known field with
 * another wire type), or FP_MSG_BAD_META (metadata the P4Info does not allow: an
 * unknown id, an empty value, a value wider than its field): the caller decodes
 * FP_MSG_OTHER with protobuf and drops FP_MSG_BAD_META as malformed, as
 * ctrl/p4rt/entity.py's PacketIn.decode would. ctrl/fastpath/stream_ref.py is the
 * same in Python, on protobuf.
 *
 * fp_quiet_filter() reads those records and keeps, in out_idx, the indices of the
 * frames the controller must look at. A host's ARP, gratuitous ARP or RARP is quiet
 * when the table says that host (virtual network, MAC) is settled where the frame
 * comes from (switch, port) with that address (or the frame names none) in the
 * table's current epoch, and no frame of that host came through earlier in the same
 * call. ARP requests always come through (each is answered); LLDP comes through once
 * per port and neighbour a call; DHCP, frames a gateway could not bridge, and
 * anything from a port in no virtual network always come through. Malformed frames
 * (rejected by the parser, or without metadata) and frames the controller has no use
 * for are only counted. The table is the caller's: fp_quiet_set() records a host as
 * settled, fp_quiet_forget() takes it out, the caller bumps `epoch` to forget every
 * host at once. ctrl/fastpath/quiet_ref.py is the same in Python.
 *
 * Proxy ARP for settled hosts (`ans` not NULL): an ARP request from a quiet host is
 * answered here, not kept, when the address it asks for is owned (fp_quiet_own) by a
 * host settled in this epoch with that address, in the asker's site (ans->sites, by
 * switch index), no frame of the owner came through earlier in the call, no frame that
 * came through earlier named that address as its sender's, and no DHCP frame or frame
 * from a port in no virtual network came through earlier in the call. The reply is
 * what ctrl/punt/frames.py's arp_reply() makes (60 bytes, padded), written into
 * ans->frames at FP_ARP_REPLY_LEN * ans->n, its ingress port into ans->ports; counted
 * as FP_Q_ANSWERED. Any other request comes through as before, for the controller.
 */
#ifndef MOBILITY_FP_PUNT_H
#define MOBILITY_FP_PUNT_H

#include <stddef.h>
#include <stdint.h>

#include "fp_parse.h"

/* cdef-begin: from here to cdef-end, ext/build_fastpath.py hands the text to cffi. */

enum fp_msg_status {
    FP_MSG_PACKET = 0,    /* a PacketIn, parsed */
    FP_MSG_OTHER = 1,     /* not a plain PacketIn: protobuf decides */
    FP_MSG_BAD_META = 2   /* a PacketIn whose metadata the P4Info does not allow */
};

enum fp_meta_slot { FP_SLOT_IN_PORT = 0, FP_SLOT_REASON = 1, FP_SLOT_VNET = 2,
                    FP_SLOT_NONE = 255 };

typedef struct fp_meta_spec {    /* the packet_in header's fields in the P4Info */
    uint32_t n;                  /* at most 16 */
    uint32_t id[16];             /* metadata_id */
    uint8_t bitwidth[16];        /* 1 .. 64 */
    uint8_t slot[16];            /* enum fp_meta_slot: where the value goes */
} fp_meta_spec;

int fp_packet_ins(const uint8_t *buf, size_t buf_len, const uint32_t *lens, size_t n,
                  const fp_meta_spec *spec, fp_record *out, uint32_t *starts,
                  uint8_t *status);

typedef struct fp_quiet_entry {
    uint64_t key;     /* vnet_id << 48 | MAC; FP_QUIET_ADDR | vnet_id << 32 | IPv4
                         for an address's owner; 0: a free slot */
    uint64_t owner;   /* an address's entry: its owner's key */
    uint32_t where;   /* switch index << 16 | port */
    uint32_t ip;      /* its IPv4 address, 0 if none known */
    uint32_t epoch;   /* settled in this epoch; 0: not settled */
    uint32_t stamp;   /* the call in which a frame of this host last came through */
} fp_quiet_entry;

typedef struct fp_quiet_table {
    fp_quiet_entry *slots;
    uint32_t capacity;   /* a power of two */
    uint32_t used;       /* slots with a key */
    uint32_t epoch;      /* >= 1 */
    uint32_t stamp;      /* counts the calls of fp_quiet_filter */
} fp_quiet_table;

enum fp_quiet_count {
    FP_Q_MALFORMED = 0,  /* rejected by the parser, or no metadata */
    FP_Q_IGNORED = 1,    /* nothing the controller uses */
    FP_Q_QUIET = 2,      /* a settled host seen where it is */
    FP_Q_REPEATED = 3,   /* an LLDP frame already seen in this call */
    FP_Q_ANSWERED = 4,   /* an ARP request of a settled host, answered (fp_quiet_answers) */
    FP_Q_COUNTS = 5
};

#define FP_QUIET_ADDR 0x1000000000000000     /* keys of addresses' entries: 1 << 60 */
#define FP_ARP_REPLY_LEN 60

typedef struct fp_quiet_answers {
    const uint16_t *sites;   /* the site of each switch index */
    uint32_t n_sites;
    uint8_t *frames;         /* room for FP_ARP_REPLY_LEN bytes per frame of the call */
    uint32_t *ports;         /* room for one per frame of the call */
    uint32_t n;              /* replies written (the caller sets 0, else FP_E_RANGE) */
} fp_quiet_answers;

/* Indices of the frames to look at, in order, into out_idx (n of room); returns how
 * many, or a negative FP_E_* code. `counts` (FP_Q_COUNTS of them) are added to. */
int fp_quiet_filter(fp_quiet_table *t, const fp_record *recs, size_t n,
                    const uint8_t *buf, size_t buf_len, const uint32_t *starts,
                    uint32_t switch_index, uint32_t *out_idx, uint64_t *counts,
                    fp_quiet_answers *ans);

/* Records `key` as settled at `where` with `ip` in the current epoch. FP_E_CAPACITY
 * when the table would be more than 3/4 full: grow it (fp_quiet_rehash) and ask again. */
int fp_quiet_set(fp_quiet_table *t, uint64_t key, uint32_t where, uint32_t ip);

/* The address `ip` in virtual network `vnet` is owned by the host `owner` (as the
 * controller's find_ip says), in the current epoch; same errors as fp_quiet_set. */
int fp_quiet_own(fp_quiet_table *t, uint16_t vnet, uint32_t ip, uint64_t owner);

/* `key` is not settled (any more). */
int fp_quiet_forget(fp_quiet_table *t, uint64_t key);

/* The entries of `from` moved into `to` (empty, larger); `to` keeps from's epoch. */
int fp_quiet_rehash(const fp_quiet_table *from, fp_quiet_table *to);

/* cdef-end */

#endif
