/* image_jpeg.c - JPEG decoding with libjpeg(-turbo) (DESIGN 3.1).
 *
 * libjpeg's default error_exit prints and calls exit(); ours formats the
 * message into the context and longjmps back. Its default emit_message
 * prints warnings; ours stays silent, except for the three warnings that
 * mean pixel data are missing and libjpeg would pad them with gray:
 * "premature end of JPEG file" (JWRN_JPEG_EOF), "premature end of data
 * segment" (JWRN_HIT_MARKER: a scan cut short, e.g. a huge declared size
 * with a few bytes of data) and a progressive scan that refines
 * coefficients never sent (JWRN_BOGUS_PROGRESSION). These end the decode at
 * once (longjmp from the warning, as error_exit does), so a bomb with
 * missing data costs no decoding time. PIL pads such files silently; we
 * refuse them (DECISIONS.md). Other corrupt-data warnings (extraneous bytes
 * before a marker, restart resync) are tolerated, like PIL.
 *
 * Size checks from the header, before anything is allocated: the pixel
 * limit (image.h), and for Huffman coding a file-size bound: every 8x8
 * block of a coded component costs at least one bit (a Huffman code is >= 1
 * bit and each block needs its DC code), and at least one component is
 * coded, so min over components of its block count <= 8 x file bytes. A
 * uniform image written by PIL/libjpeg with optimised tables costs 2 bits per
 * block (255 pixels per byte gray, 170 for 4:2:0 colour), so legal files are
 * at least 2x inside the bound. Arithmetic-coded files can go below a bit
 * per block and get only the pixel limit. Decoding uses libjpeg's
 * defaults (islow DCT, fancy upsampling), which is what PIL uses, so pixels
 * match PIL exactly with the same library. Gray JPEGs come back with c = 1;
 * CMYK/YCCK JPEGs are refused (their inversion conventions differ between
 * writers). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include <sys/stat.h>

#include "image.h"

typedef struct {
  struct jpeg_error_mgr pub; /* first member: libjpeg casts cinfo->err to this */
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX + 64];
  const char *what; /* message prefix: corrupt data or an unsupported kind */
  int truncated;
  int sized; /* a size check failed; its message is in err.h already */
} JpegErr;

static void jpeg_error_exit_(j_common_ptr cinfo) {
  JpegErr *e = (JpegErr *)cinfo->err;
  if (!e->msg[0]) (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jump, 1);
}

static void jpeg_emit_message_(j_common_ptr cinfo, int level) {
  JpegErr *e = (JpegErr *)cinfo->err;
  if (level >= 0) return;
  cinfo->err->num_warnings++;
  int code = cinfo->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_BOGUS_PROGRESSION) {
    e->truncated = 1;
    if (!e->msg[0]) (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
  }
}

TcErr tc_image_read_jpeg(const char *path, TcImage *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return tc_err_set(TC_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
  struct jpeg_decompress_struct cinfo;
  JpegErr jerr;
  memset(&jerr, 0, sizeof jerr);
  cinfo.err = jpeg_std_error(&jerr.pub);
  jerr.pub.error_exit = jpeg_error_exit_;
  jerr.pub.emit_message = jpeg_emit_message_;
  uint8_t *volatile pix = NULL;

  if (setjmp(jerr.jump)) {
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    free(pix);
    if (jerr.sized) return TC_ERR_FORMAT; /* message already set */
    return tc_err_set(TC_ERR_FORMAT, "%s: %s: %s", path,
                      jerr.what ? jerr.what : jerr.truncated ? "truncated JPEG (pixel data missing)"
                                                             : "corrupt or truncated JPEG",
                      jerr.msg[0] ? jerr.msg : "libjpeg error");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jerr.what = "unsupported JPEG";
    snprintf(jerr.msg, sizeof jerr.msg, "colour space CMYK/YCCK (convert to RGB first)");
    longjmp(jerr.jump, 1);
  }
  int c = cinfo.num_components == 1 ? 1 : 3;
  if (cinfo.num_components != 1 && cinfo.num_components != 3) {
    jerr.what = "unsupported JPEG";
    snprintf(jerr.msg, sizeof jerr.msg, "%d components", cinfo.num_components);
    longjmp(jerr.jump, 1);
  }
  cinfo.out_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  if (tc_image_check_size(path, "JPEG", cinfo.image_width, cinfo.image_height) != TC_OK) {
    jerr.sized = 1;
    longjmp(jerr.jump, 1);
  }
  if (!cinfo.arith_code) {
    /* width/height_in_blocks are set by jpeg_read_header (SOF processing). */
    uint64_t min_blocks = UINT64_MAX;
    for (int i = 0; i < cinfo.num_components; i++) {
      uint64_t b = (uint64_t)cinfo.comp_info[i].width_in_blocks * cinfo.comp_info[i].height_in_blocks;
      if (b < min_blocks) min_blocks = b;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && min_blocks > 8 * (uint64_t)st.st_size) {
      tc_err_set(TC_ERR_FORMAT,
                 "%s: JPEG declares %ux%u pixels (%llu 8x8 blocks per component at least) but the "
                 "file has %lld bytes, less than one bit per block: pixel data missing (a "
                 "decompression bomb or a truncated file)",
                 path, cinfo.image_width, cinfo.image_height, (unsigned long long)min_blocks,
                 (long long)st.st_size);
      jerr.sized = 1;
      longjmp(jerr.jump, 1);
    }
  }
  jpeg_start_decompress(&cinfo);
  if ((int)cinfo.output_components != c) {
    snprintf(jerr.msg, sizeof jerr.msg, "decoder gave %d components", cinfo.output_components);
    longjmp(jerr.jump, 1);
  }
  size_t w = cinfo.output_width, h = cinfo.output_height;
  pix = malloc(w * h * (size_t)c);
  if (!pix) {
    jerr.what = "cannot decode JPEG";
    snprintf(jerr.msg, sizeof jerr.msg, "out of memory for %zux%zu pixels", w, h);
    longjmp(jerr.jump, 1);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pix + (size_t)cinfo.output_scanline * w * (size_t)c;
    if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
      snprintf(jerr.msg, sizeof jerr.msg, "no data at scanline %u", cinfo.output_scanline);
      longjmp(jerr.jump, 1);
    }
    if (jerr.truncated) longjmp(jerr.jump, 1);
  }
  jpeg_finish_decompress(&cinfo);
  if (jerr.truncated) longjmp(jerr.jump, 1);
  jpeg_destroy_decompress(&cinfo);
  fclose(f);
  *out = (TcImage){(int)w, (int)h, c, pix};
  return TC_OK;
}
