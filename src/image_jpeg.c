/* image_jpeg.c - JPEG decoding with libjpeg(-turbo) (DESIGN 3.1).
 *
 * libjpeg's default error_exit prints and calls exit(); ours formats the
 * message into the context and longjmps back. Its default emit_message
 * prints warnings; ours stays silent, except that "premature end of JPEG
 * file" (a truncated file, which libjpeg only warns about and pads with
 * gray) becomes an error, as PIL refuses truncated images by default. Other
 * corrupt-data warnings are tolerated, like PIL. Decoding uses libjpeg's
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

#include "image.h"

#define MAX_PIXELS ((size_t)1 << 30)

typedef struct {
  struct jpeg_error_mgr pub; /* first member: libjpeg casts cinfo->err to this */
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX + 64];
  const char *what; /* message prefix: corrupt data or an unsupported kind */
  int truncated;
} JpegErr;

static void jpeg_error_exit_(j_common_ptr cinfo) {
  JpegErr *e = (JpegErr *)cinfo->err;
  if (!e->msg[0]) (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jump, 1);
}

static void jpeg_emit_message_(j_common_ptr cinfo, int level) {
  JpegErr *e = (JpegErr *)cinfo->err;
  if (level < 0) {
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF && !e->truncated) {
      e->truncated = 1;
      if (!e->msg[0]) (*cinfo->err->format_message)(cinfo, e->msg);
    }
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
    return tc_err_set(TC_ERR_FORMAT, "%s: %s: %s", path,
                      jerr.what ? jerr.what : jerr.truncated ? "truncated JPEG" : "corrupt or truncated JPEG",
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
  if ((size_t)cinfo.image_width * cinfo.image_height > MAX_PIXELS || cinfo.image_width == 0 ||
      cinfo.image_height == 0) {
    jerr.what = "unsupported JPEG";
    snprintf(jerr.msg, sizeof jerr.msg, "size %ux%u", cinfo.image_width,
             cinfo.image_height);
    longjmp(jerr.jump, 1);
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
  out->w = (int)w;
  out->h = (int)h;
  out->c = c;
  out->rgb = pix;
  return TC_OK;
}
