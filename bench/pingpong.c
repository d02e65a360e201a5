/* pingpong.c - MPI latency and bandwidth between 2 ranks, for `make bench`
 * and the cost model (issue 9).
 *
 * Measures, between ranks 0 and 1 (other ranks wait in a barrier):
 *   - ping-pong latency, half a round trip, for 8 B .. 64 KB messages;
 *   - ping-pong bandwidth (bytes / half round trip) for 1 .. 64 MB messages;
 * and over all ranks of MPI_COMM_WORLD:
 *   - MPI_Allreduce latency with the builtin MPI_MAXLOC on MPI_FLOAT_INT
 *     (the floor any reduction pays);
 *   - MPI_Allreduce latency with a user-defined max-location op on the
 *     coreset step's payload (DESIGN 6: the winner's distance, its global
 *     index, lowest index wins ties, and its projected vector). Two payloads:
 *     140 B (the size issue 9 names) and 528 B (the real one: float distance,
 *     int64 index, 128 float32 = 524 B, padded to 8). A user op matters: MPI
 *     cannot use its tuned builtin reductions for it.
 * Prints `key=value` lines on rank 0 (keys in bench/README.md). Each figure
 * is the best of 3 trials, each trial a mean over many iterations.
 *
 * This is a measuring program, not part of tailedcore: it touches
 * MPI_COMM_WORLD directly, which the library code never does. On one machine
 * it measures shared memory, not a network; the cost model says so.
 *
 * Usage: mpirun -np 2 pingpong [--quick]
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The coreset max-location record: header, then the winner's vector. */
typedef struct {
  float dist;     /* the winner's current min distance to the selected set */
  int32_t rank;   /* unused by the op; keeps idx 8-aligned */
  int64_t idx;    /* global patch index; lowest wins a tie */
} TcMaxlocHead;

static int g_rec_bytes; /* record size for the user op (set before each use) */

/* User op: keep the larger dist, lowest idx on ties; copy the whole record. */
static void maxloc_op(void *in, void *inout, int *len, MPI_Datatype *dt) {
  (void)dt;
  char *a = in, *b = inout;
  for (int i = 0; i < *len; i++, a += g_rec_bytes, b += g_rec_bytes) {
    TcMaxlocHead ha, hb;
    memcpy(&ha, a, sizeof ha);
    memcpy(&hb, b, sizeof hb);
    if (ha.dist > hb.dist || (ha.dist == hb.dist && ha.idx < hb.idx)) memcpy(b, a, (size_t)g_rec_bytes);
  }
}

/* Mean half-round-trip seconds of `iters` ping-pongs of `bytes` between
 * ranks 0 and 1 (after `warm` untimed ones); valid on rank 0. */
static double pingpong_once(MPI_Comm comm, int rank, char *buf, int bytes, int iters, int warm) {
  double t0 = 0;
  for (int it = -warm; it < iters; it++) {
    if (it == 0) t0 = MPI_Wtime();
    if (rank == 0) {
      MPI_Send(buf, bytes, MPI_BYTE, 1, 7, comm);
      MPI_Recv(buf, bytes, MPI_BYTE, 1, 7, comm, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(buf, bytes, MPI_BYTE, 0, 7, comm, MPI_STATUS_IGNORE);
      MPI_Send(buf, bytes, MPI_BYTE, 0, 7, comm);
    }
  }
  return (MPI_Wtime() - t0) / (2.0 * iters);
}

static double best_of(double *t, int n) {
  double b = t[0];
  for (int i = 1; i < n; i++) if (t[i] < b) b = t[i];
  return b;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int quick = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else {
      if (rank == 0) fprintf(stderr, "pingpong: unknown option '%s' (usage: mpirun -np 2 pingpong [--quick])\n", argv[i]);
      MPI_Finalize();
      return 2;
    }
  }
  if (size < 2) {
    if (rank == 0) fprintf(stderr, "pingpong: needs at least 2 ranks (mpirun -np 2)\n");
    MPI_Finalize();
    return 2;
  }
  /* ping-pong uses ranks 0 and 1 only; the others stay out of the way */
  MPI_Comm pair;
  MPI_Comm_split(MPI_COMM_WORLD, rank < 2 ? 0 : MPI_UNDEFINED, rank, &pair);
  const int trials = 3;
  const size_t max_bytes = (size_t)64 << 20;
  char *buf = malloc(max_bytes);
  if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);
  memset(buf, 1, max_bytes);
  if (rank == 0) printf("mpi_ranks=%d\n", size);

  if (pair != MPI_COMM_NULL) {
    static const int small[] = {8, 64, 512, 4096, 65536};
    for (size_t k = 0; k < sizeof small / sizeof *small; k++) {
      double t[3];
      int iters = quick ? 500 : 5000;
      if (small[k] >= 4096) iters /= 5;
      for (int r = 0; r < trials; r++) t[r] = pingpong_once(pair, rank, buf, small[k], iters, iters / 10);
      if (rank == 0) printf("pp_lat_us_%dB=%.2f\n", small[k], 1e6 * best_of(t, trials));
    }
    static const int big_mb[] = {1, 4, 16, 64};
    for (size_t k = 0; k < sizeof big_mb / sizeof *big_mb; k++) {
      if (quick && big_mb[k] > 16) continue;
      int bytes = big_mb[k] << 20;
      int iters = quick ? 5 : (big_mb[k] >= 16 ? 10 : 40);
      double t[3];
      for (int r = 0; r < trials; r++) t[r] = pingpong_once(pair, rank, buf, bytes, iters, 2);
      if (rank == 0) printf("pp_bw_gbs_%dMB=%.2f\n", big_mb[k], (double)bytes / best_of(t, trials) * 1e-9);
    }
    MPI_Comm_free(&pair);
  }
  MPI_Barrier(MPI_COMM_WORLD);

  /* builtin MAXLOC floor */
  {
    struct { float v; int i; } in = {(float)rank, rank}, out;
    int iters = quick ? 2000 : 20000;
    double t[3];
    for (int r = 0; r < trials; r++) {
      for (int w = 0; w < iters / 10; w++) MPI_Allreduce(&in, &out, 1, MPI_FLOAT_INT, MPI_MAXLOC, MPI_COMM_WORLD);
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      for (int it = 0; it < iters; it++) MPI_Allreduce(&in, &out, 1, MPI_FLOAT_INT, MPI_MAXLOC, MPI_COMM_WORLD);
      t[r] = (MPI_Wtime() - t0) / iters;
    }
    if (rank == 0) printf("allreduce_us_maxloc8B=%.2f\n", 1e6 * best_of(t, trials));
  }
  /* the coreset step's user-defined max-location, at 140 B and 528 B */
  static const int rec[] = {140, 528};
  for (size_t k = 0; k < sizeof rec / sizeof *rec; k++) {
    g_rec_bytes = rec[k];
    MPI_Datatype dt;
    MPI_Type_contiguous(rec[k], MPI_BYTE, &dt);
    MPI_Type_commit(&dt);
    MPI_Op op;
    MPI_Op_create(maxloc_op, 1, &op);
    char *in = calloc(1, (size_t)rec[k]), *out = calloc(1, (size_t)rec[k]);
    /* every rank holds a candidate; each step a different rank wins, as in
     * a real coreset run, so the op really copies the payload */
    int iters = quick ? 2000 : 20000;
    double t[3];
    int ok = 1;
    for (int r = 0; r < trials; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = 0;
      for (int it = -iters / 10; it < iters; it++) {
        if (it == 0) t0 = MPI_Wtime();
        TcMaxlocHead h = {(float)(((rank + it) % size + size) % size), rank, (int64_t)rank * 1000 + it};
        memcpy(in, &h, sizeof h);
        MPI_Allreduce(in, out, 1, dt, op, MPI_COMM_WORLD);
        TcMaxlocHead w;
        memcpy(&w, out, sizeof w);
        if (w.dist != (float)(size - 1)) ok = 0;
      }
      t[r] = (MPI_Wtime() - t0) / iters;
    }
    if (rank == 0) printf("allreduce_us_%dB=%.2f\n", rec[k], 1e6 * best_of(t, trials));
    int all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok && rank == 0) fprintf(stderr, "pingpong: max-location op gave a wrong winner at %d B\n", rec[k]);
    free(in); free(out);
    MPI_Op_free(&op);
    MPI_Type_free(&dt);
    if (!all_ok) { free(buf); MPI_Finalize(); return 1; }
  }
  free(buf);
  MPI_Finalize();
  return 0;
}
