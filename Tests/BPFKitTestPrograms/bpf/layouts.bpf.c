// The skeleton generator's test object: C types of every kind it mirrors in Swift (padding,
// nested structs, arrays of them, char arrays, unions, anonymous members, bitfields, enums of
// each size and sign, a packed struct, a pointer, bool, a flexible array), as map keys and
// values, a global and BPFKIT_TYPE names. `fill` writes known values through the C layout; the
// tests read them back through the generated Swift one.
#include "bpfkit.h"

char LICENSE[] SEC("license") = "GPL";

enum gen_color { GEN_COLOR_RED = 1, GEN_COLOR_GREEN = 2, GEN_COLOR_BLUE = 0x7fffffff };
enum gen_level { GEN_LEVEL_LOW = -1, GEN_LEVEL_HIGH = 1 };
enum gen_big { GEN_BIG_ONE = 1, GEN_BIG_HUGE = 0xffffffff00000000ULL };

struct gen_inner {
	__u16 tag;  /* then 6 bytes of padding */
	__u64 value;
};

struct gen_sample {
	__u8 kind;  /* then 7 bytes of padding */
	struct gen_inner in;
	struct gen_inner pairs[2];
	char name[12];
	__u32 grid[2][3];
	union {
		__u32 word;
		__u8 bytes[4];
	};
	struct {
		__u16 low;
		__u16 high;
	};
	__u32 flag_a : 3;
	__s32 flag_b : 5;
	__u32 flag_c : 12;
	enum gen_color color;
	enum gen_level level;
	bool enabled;
	void *where;
	struct {
		__u32 a, b;
	} named_anon;
	enum gen_big big;
	__u8 tail;  /* then 7 bytes of trailing padding */
};

struct gen_packed {
	__u8 head;
	__u32 body;
	__u16 tail;
} __attribute__((packed));

union gen_either {
	__u64 number;
	char text[8];
};

typedef struct {
	__u32 x, y;
} gen_point_t;

/* Named for the generator only: a record with a flexible array, and a struct no map uses. */
struct gen_record_header {
	__u32 len;
	__u32 kind;
	char data[];
};
struct gen_lonely {
	__s16 alone;
};
BPFKIT_TYPE(struct gen_record_header);
BPFKIT_TYPE(struct gen_lonely);

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, gen_point_t); __type(value, struct gen_sample); } samples SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, struct gen_packed); } packs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, union gen_either); } eithers SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, enum gen_color); __type(value, bool); } colors SEC(".maps");

struct gen_inner last_inner = {};  /* .bss */

/* Run with BPF_PROG_TEST_RUN: fills each map's entry with known values. */
SEC("raw_tp")
int fill(void *ctx)
{
	gen_point_t key = { .x = 1, .y = 2 };
	struct gen_sample s = {};
	s.kind = 7;
	s.in.tag = 0x1234;
	s.in.value = 0x1122334455667788ULL;
	s.pairs[1].tag = 9;
	s.pairs[1].value = 99;
	s.name[0] = 'o';
	s.name[1] = 'k';
	s.grid[1][2] = 12;
	s.word = 0x04030201;
	s.low = 0xAAAA;
	s.high = 0xBBBB;
	s.flag_a = 5;
	s.flag_b = -3;
	s.flag_c = 0xABC;
	s.color = GEN_COLOR_BLUE;
	s.level = GEN_LEVEL_LOW;
	s.enabled = true;
	s.where = (void *)0x123456789aULL;
	s.named_anon.a = 21;
	s.named_anon.b = 22;
	s.big = GEN_BIG_HUGE;
	s.tail = 0xEE;
	bpf_map_update_elem(&samples, &key, &s, BPF_ANY);

	__u32 zero = 0;
	struct gen_packed p = { .head = 0xAA, .body = 0xDEADBEEF, .tail = 0xBEEF };
	bpf_map_update_elem(&packs, &zero, &p, BPF_ANY);
	union gen_either *e = bpf_map_lookup_elem(&eithers, &zero);
	if (e)
		e->number = 0x0000004443424140ULL;  /* "@ABCD" */
	enum gen_color green = GEN_COLOR_GREEN;
	bool yes = true;
	bpf_map_update_elem(&colors, &green, &yes, BPF_ANY);
	last_inner.tag = 0x55;
	last_inner.value = 0x66;
	return 0;
}
