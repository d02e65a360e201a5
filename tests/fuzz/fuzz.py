#!/usr/bin/python3
"""fuzz.py - the runner of `make fuzz` (issue 19).

  tests/fuzz/fuzz.py [--build build-san] [--minutes 10] [--seed 1] [--out DIR]
                     [--timeout 30] [--mem-bound-mb 1024] [--np2-every 10]

Makes the HDF5 seeds with the project's own commands on tiny synthetic data,
then alternates image mutants (through `extract`) and HDF5 mutants (through
info / tailsample / fit / predict / eval / extract --weights) until each half
of the time budget is spent. Every run goes through mpirun (1 rank; every
--np2-every-th run on 2 ranks) under the ASan + UBSan build, with a timeout
and a measured peak RSS. Mutant i of a stream is a pure function of (--seed,
stream, i), so a run is reproducible however far it gets.

Results (hard findings make the exit status 1):
  handled      exit 0, 2, 3 or 4 and nothing below
  hard         signal, sanitizer report, timeout, peak RSS over the bound,
               a *.tmp.* file left behind
  soft         exit 1 or another code (internal error on bad input), a
               rejection whose error line does not name the file or is not
               one line, exit 0 on an input the command must refuse
               (non-finite data, broken kind, impossible shapes)
Writes OUT/summary.md and OUT/findings/<id>-<category>/ (input, stderr,
repro.sh). ASan is told to abort allocations over 2 GB and RSS over 2 GB so a
decompression bomb cannot take the shared machine down; the bound reported
as a finding (--mem-bound-mb) is lower.
"""
import argparse
import glob
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutate  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
HARD = ('timeout', 'signal', 'sanitizer', 'memory', 'tmpfile')
SOFT = ('exit1', 'message', 'accepted')
SAN_RE = re.compile(r'ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer|'
                    r'SUMMARY: (Address|UndefinedBehavior)Sanitizer|ERROR: LeakSanitizer')
SIG_RE = re.compile(r'exited on signal|terminated with signal|Segmentation fault|core dumped|'
                    r'corrupted size|double free|free\(\): invalid|malloc\(\): |stack smashing')
FRAME_RE = re.compile(r'#\d+ 0x[0-9a-f]+ in (\S+) (\S*?((?:src|mpi|inputs|tests)/[^:\s]+:\d+))')


def env_for_runs():
    e = dict(os.environ)
    e.update({
        'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1',
        'OMPI_MCA_rmaps_base_oversubscribe': '1', 'OMPI_MCA_btl_vader_single_copy_mechanism': 'none',
        # leaks off: LeakSanitizer's exit-time tracer crashes under Open MPI's threads (README)
        'ASAN_OPTIONS': 'detect_leaks=0:hard_rss_limit_mb=2048:max_allocation_size_mb=2048:'
                        'allocator_may_return_null=0:symbolize=1:detect_stack_use_after_return=0',
        'UBSAN_OPTIONS': 'print_stacktrace=1:halt_on_error=0',
    })
    return e


def mpirun(np_):
    c = ['mpirun', '--oversubscribe', '--bind-to', 'none', '-x', 'OPENBLAS_NUM_THREADS', '-x', 'OMP_NUM_THREADS',
         '-x', 'ASAN_OPTIONS', '-x', 'UBSAN_OPTIONS', '-np', str(np_)]
    if os.geteuid() == 0:
        c.insert(1, '--allow-run-as-root')
    return c


class Fuzzer:
    def __init__(self, a):
        self.a = a
        self.build = os.path.abspath(a.build)
        self.tc = os.path.join(self.build, 'tailedcore')
        self.out = os.path.abspath(a.out or os.path.join(self.build, 'fuzz'))
        self.seeds = os.path.join(self.out, 'seeds')
        self.work = os.path.join(self.out, 'work')
        self.findings_dir = os.path.join(self.out, 'findings')
        self.env = env_for_runs()
        self.results = []      # one dict per run
        self.saved = {}        # signature -> number of inputs saved
        self.findings = []     # dicts of saved findings

    # ------------------------------------------------------------ setup
    def sh(self, args, what):
        r = subprocess.run(args, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
        if r.returncode != 0:
            sys.exit('fuzz: setup step failed (%s), exit %d:\n%s' % (what, r.returncode,
                                                                     r.stdout.decode(errors='replace')[-3000:]))

    def setup(self):
        for d in (self.seeds, self.work, self.findings_dir):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        s, b, tc = self.seeds, self.build, self.tc
        one = mpirun(1)
        self.weights = os.path.join(s, 'weights.h5')
        # formula weights of the golden CNN fixture: a real weights file without the network
        self.sh([os.path.join(b, 'tests', 'test_cnn'), '--write-weights', 'mobilenetv2', 'mobilenetv2',
                 self.weights], 'weights')
        self.data = os.path.join(s, 'data')
        self.sh([os.path.join(b, 'tc-synth'), '--out', self.data, '--classes', '1', '--train', '6',
                 '--test-good', '1', '--test-defect', '1', '--defects', 'scratch', '--size', '48', '--quiet'],
                'synthetic images')
        ex = ['--weights', self.weights, '--resize', '32', '--crop', '32', '--quiet']
        self.sh(one + [tc, 'extract', '--data', self.data, '--out', s + '/features_real.h5'] + ex, 'extract train')
        self.sh(one + [tc, 'extract', '--data', self.data, '--split', 'test', '--out', s + '/test_real.h5'] + ex,
                'extract test')
        self.sh(one + [os.path.join(b, 'tests', 'tools', 'fake_features'), 'write', s + '/features.h5',
                       '12', '2', '8', '8', '3'], 'fake features')
        self.sh(one + [tc, 'fit', '--features', s + '/features.h5', '--method', 'tailedcore', '--tail-aug', 'none',
                       '--out', s + '/model.h5', '--quiet'], 'fit')
        self.sh(one + [tc, 'fit', '--features', s + '/features.h5', '--method', 'softpatch',
                       '--out', s + '/model_softpatch.h5', '--quiet'], 'fit softpatch')
        self.sh(one + [tc, 'fit', '--features', s + '/features_real.h5', '--data', self.data, '--weights',
                       self.weights, '--tail-aug', 'rotflip', '--out', s + '/model_real.h5', '--quiet'], 'fit views')
        self.sh(one + [tc, 'tailsample', '--features', s + '/features.h5', '--out', s + '/tail.h5', '--quiet'],
                'tailsample')
        self.sh(one + [tc, 'predict', '--model', s + '/model_real.h5', '--features', s + '/test_real.h5',
                       '--out', s + '/scores.h5', '--quiet'], 'predict')
        self.h5_seeds = [('features.h5', 'features'), ('features_real.h5', 'features'), ('model.h5', 'model'),
                         ('model_softpatch.h5', 'model'), ('model_real.h5', 'model'), ('tail.h5', 'tail'),
                         ('scores.h5', 'scores'), ('weights.h5', 'weights')]
        self.img_seeds = sorted(glob.glob(os.path.join(ROOT, 'tests', 'fuzz', 'seeds', '*')))
        self.good_img = os.path.join(ROOT, 'tests', 'fuzz', 'seeds', 'rgb8.png')
        if not self.img_seeds:
            sys.exit('fuzz: no image seeds in tests/fuzz/seeds (tests/fuzz/gen_seeds.py makes them)')

    # ------------------------------------------------------------ one run
    def run(self, rid, target, cmd, np_, inp, reject, desc, recipe, rundir):
        argv = mpirun(np_) + [self.tc] + cmd
        rss_file = os.path.join(rundir, 'rss')
        err_file = os.path.join(rundir, 'stderr')
        t0 = time.time()
        with open(err_file, 'wb') as ef:
            p = subprocess.Popen(['/usr/bin/time', '-f', '%M', '-o', rss_file] + argv, cwd=rundir, env=self.env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ef,
                                 start_new_session=True)
            timed_out = False
            try:
                rc = p.wait(timeout=self.a.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.kill(p, rundir)
                rc = p.wait()
        secs = time.time() - t0
        err = open(err_file, 'rb').read()[:400000].decode('utf-8', 'replace')
        rss = None
        try:
            # /usr/bin/time prints "Command exited with non-zero status N" first on failure
            rss = int(open(rss_file).read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
        cats = []
        if timed_out:
            cats.append('timeout')
        if SAN_RE.search(err):
            cats.append('sanitizer')
        if not timed_out and (rc < 0 or rc >= 128 or SIG_RE.search(err)):
            cats.append('signal')
        if rss is not None and rss > self.a.mem_bound_mb * 1024:
            cats.append('memory')
        if any('.tmp.' in n for n in os.listdir(rundir)):
            cats.append('tmpfile')
        if not cats:
            if rc not in (0, 2, 3, 4):
                cats.append('exit1')
            elif rc != 0 and inp:
                lines = [ln for ln in err.splitlines()
                         if ln.startswith('tailedcore:') and not re.match(r'tailedcore: (\S+: )?warning', ln)]
                # --skip-bad-images: one notice per skipped image naming it, then the error
                skips = [ln for ln in lines if 'skipped bad image' in ln]
                errs = [ln for ln in lines if ln not in skips]
                base = os.path.basename(inp)
                if len(errs) != 1 or not any(base in ln for ln in errs + skips):
                    cats.append('message')
            elif rc == 0 and cmd[0] + ('t' if '--tail-aug' in cmd and cmd[0] == 'fit' else '') in reject:
                cats.append('accepted')
        r = dict(id=rid, target=target, rc=None if timed_out else rc, secs=secs, rss=rss, cats=cats,
                 desc=desc, np=np_, cmd=cmd, recipe=recipe)
        self.results.append(r)
        if cats:
            self.save(r, argv, err, inp, recipe, rundir)
        shutil.rmtree(rundir, ignore_errors=True)
        return r

    def kill(self, p, rundir):
        """The process group, then anything still naming the run's directory
        (ranks are started by mpirun and may sit in their own group)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            for pid in os.listdir('/proc'):
                if not pid.isdigit() or int(pid) == os.getpid():
                    continue
                try:
                    if rundir.encode() in open('/proc/%s/cmdline' % pid, 'rb').read():
                        os.kill(int(pid), sig)
                except OSError:
                    pass
            time.sleep(3 if sig == signal.SIGTERM else 0)

    def signature(self, r, err):
        cat = [c for c in r['cats'] if c in HARD] or r['cats']
        # the first frame in our code (not the sanitizer's interceptors), else the library function
        frames = [m for m in FRAME_RE.finditer(err) if 'sanitizer' not in m.group(2)]
        where = '%s %s' % (frames[0].group(1), frames[0].group(3)) if frames else ''
        if not where:
            m = re.search(r'#\d+ 0x[0-9a-f]+ in (\S+) \(/\S*/(lib[^/\s]+?)\.so', err)
            where = '%s in %s' % (m.group(1), m.group(2)) if m else ''
        m = re.search(r'ERROR: AddressSanitizer: ([\w-]+)|runtime error: ([^:]*?)(?: for type|$)', err, re.M)
        kind = (m.group(1) or m.group(2))[:50] if m else ''
        stem = re.sub(r'\d+', 'N', r['desc'])[:50]
        return '%s | %s | %s' % (cat[0], r['target'], ' '.join(x for x in (kind, where) if x) or stem)

    def save(self, r, argv, err, inp, recipe, rundir):
        sig = self.signature(r, err)
        n = self.saved.get(sig, 0)
        self.saved[sig] = n + 1
        r['sig'] = sig
        if n >= (3 if any(c in HARD for c in r['cats']) else 1):
            return
        d = os.path.join(self.findings_dir, '%s-%s' % (r['id'], '-'.join(r['cats'])))
        os.makedirs(d)
        for f in os.listdir(rundir):
            if f not in ('rss', 'stderr') and '.tmp.' not in f and not f.startswith('out'):
                shutil.copy(os.path.join(rundir, f), d)
        with open(os.path.join(d, 'stderr.txt'), 'w') as fo:
            fo.write(err)
        # the repro runs from the finding's folder: every input path points there
        rargv = [a.replace(rundir, d) for a in argv]
        for a in rargv:
            if a.startswith(d) and a.endswith('.txt') and os.path.exists(a):  # list file of the image
                txt = open(a).read().replace(rundir, d)
                open(a, 'w').write(txt)
        with open(os.path.join(d, 'repro.sh'), 'w') as fo:
            fo.write('#!/bin/sh\n# %s: %s\n# target %s; mutation: %s\n# recipe: %s\n'
                     '# exit %s, %.1f s, peak RSS %s KB\ncd "$(dirname "$0")"\n'
                     'export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ASAN_OPTIONS=%s UBSAN_OPTIONS=%s\n'
                     'rm -rf out; mkdir -p out\n%s\necho "exit $?"\n'
                     % (r['id'], ', '.join(r['cats']), r['target'], r['desc'], recipe, r['rc'], r['secs'],
                        r['rss'], shlex.quote(self.env['ASAN_OPTIONS']), shlex.quote(self.env['UBSAN_OPTIONS']),
                        ' '.join(shlex.quote(a) for a in rargv).replace(shlex.quote(d + '/out'), 'out/out')))
        os.chmod(os.path.join(d, 'repro.sh'), 0o755)
        r['dir'] = d
        self.findings.append(r)

    # ------------------------------------------------------------ streams
    def image_case(self, i):
        rid = 'img%05d' % i
        key = '%s-img-%d' % (self.a.seed, i)
        sel = random.Random(key + '-sel')
        seed = sel.choice(self.img_seeds)
        data = open(seed, 'rb').read()
        mdata, desc = mutate.image_mutant(data, seed, random.Random(key))
        rundir = os.path.join(self.work, rid)
        os.makedirs(rundir)
        ext = os.path.splitext(seed)[1]
        inp = os.path.join(rundir, 'm_%s%s' % (rid, ext))
        open(inp, 'wb').write(mdata)
        np_ = 2 if sel.randrange(self.a.np2_every) == 0 else 1
        lst = os.path.join(rundir, 'list.txt')
        # on 2 ranks the mutant is the second image, so rank 1 meets it
        open(lst, 'w').write((self.good_img + '\n' if np_ == 2 else '') + inp + '\n')
        cmd = ['extract', '--list', lst, '--weights', self.weights, '--resize', '40', '--crop', '32',
               '--out', os.path.join(rundir, 'out.h5'), '--quiet']
        if sel.random() < 0.1:
            cmd.append('--skip-bad-images')
        recipe = 'tests/fuzz/mutate.py image %s OUT %s' % (os.path.relpath(seed, ROOT), key)
        return self.run(rid, 'image%s/extract' % ext, cmd, np_, inp, set(), desc, recipe, rundir)

    def h5_case(self, i):
        rid = 'h5_%05d' % i
        key = '%s-h5-%d' % (self.a.seed, i)
        sel = random.Random(key + '-sel')
        name, kind = sel.choice(self.h5_seeds)
        src = os.path.join(self.seeds, name)
        rundir = os.path.join(self.work, rid)
        os.makedirs(rundir)
        inp = os.path.join(rundir, 'm_%s.h5' % rid)
        try:
            desc, reject = mutate.h5_mutant(src, kind, inp, random.Random(key))
        except Exception as e:  # a mutation h5py cannot express: the run is skipped, not hidden
            desc, reject = 'mutator error %s: %s' % (type(e).__name__, str(e)[:80]), set()
            shutil.copyfile(src, inp)
        s = self.seeds
        out = os.path.join(rundir, 'out.h5')
        real = name.endswith('_real.h5')
        choices = {
            'features': ['fit', 'fitt', 'tailsample', 'predict', 'info'],
            'model': ['predict', 'predict', 'info'],
            'tail': ['info'],
            'scores': ['info', 'eval'],
            'weights': ['extract', 'extract', 'info'],
        }[kind]
        c = sel.choice(choices)
        if c == 'fit':
            cmd = ['fit', '--features', inp, '--method', sel.choice(['patchcore', 'softpatch']), '--out', out]
        elif c == 'fitt':
            cmd = ['fit', '--features', inp, '--method', 'tailedcore', '--tail-aug', 'none', '--out', out]
            if real:
                cmd[-4:-2] = ['--data', self.data, '--weights', self.weights, '--tail-aug', 'rotflip']
        elif c == 'tailsample':
            cmd = ['tailsample', '--features', inp, '--out', out] + sel.choice([[], ['--mode', 'stream']])
        elif c == 'predict' and kind == 'features':
            cmd = ['predict', '--model', s + ('/model_real.h5' if real else '/model.h5'), '--features', inp,
                   '--out', out]
        elif c == 'predict':
            cmd = ['predict', '--model', inp, '--features', s + ('/test_real.h5' if real else '/features.h5'),
                   '--out', out]
        elif c == 'eval':
            cmd = ['eval', '--scores', inp, '--data', self.data, '--dataset-info', self.data + '/dataset.json']
        elif c == 'extract':
            lst = os.path.join(rundir, 'list.txt')
            open(lst, 'w').write(self.good_img + '\n' + self.good_img + '\n')
            cmd = ['extract', '--list', lst, '--weights', inp, '--resize', '40', '--crop', '32', '--out', out]
        else:
            cmd = ['info', inp]
        cmd.append('--quiet')
        np_ = 2 if c != 'info' and sel.randrange(self.a.np2_every) == 0 else 1
        recipe = 'tests/fuzz/mutate.py h5 %s %s OUT %s' % (os.path.relpath(src, ROOT), kind, key)
        return self.run(rid, '%s/%s' % (kind, c), cmd, np_, inp, reject, desc, recipe, rundir)

    def loop(self):
        budget = self.a.minutes * 60.0 / 2
        used = {'img': 0.0, 'h5': 0.0}
        n = {'img': 0, 'h5': 0}
        last = time.time()
        while True:
            # the stream that has used the least time goes next, until both have used their half
            s = min((k for k in used if used[k] < budget), key=lambda k: used[k], default=None)
            if s is None:
                break
            t0 = time.time()
            r = self.image_case(n['img']) if s == 'img' else self.h5_case(n['h5'])
            n[s] += 1
            used[s] += time.time() - t0
            if r['cats']:
                print('  %s %-22s exit %-4s %s: %s' % (r['id'], r['target'], r['rc'], ','.join(r['cats']),
                                                      r['desc'][:90]), flush=True)
            if time.time() - last > 30:
                last = time.time()
                print('fuzz: %d image, %d HDF5 inputs; %.0f / %.0f s used' % (n['img'], n['h5'],
                      sum(used.values()), 2 * budget), flush=True)

    # ------------------------------------------------------------ summary
    def summary(self, wall):
        R = self.results
        lines = ['# make fuzz summary', '',
                 'seed %s, budget %.1f min (half image, half HDF5), wall %.1f min, build %s, timeout %d s, '
                 'memory bound %d MB (peak RSS of the largest process, /usr/bin/time %%M)' %
                 (self.a.seed, self.a.minutes, wall / 60, os.path.relpath(self.build, ROOT), self.a.timeout,
                  self.a.mem_bound_mb), '']
        tot = {c: sum(1 for r in R if c in r['cats']) for c in HARD + SOFT}
        lines += ['inputs: %d (%d image, %d HDF5), %d on 2 ranks' %
                  (len(R), sum(1 for r in R if r['id'].startswith('img')),
                   sum(1 for r in R if r['id'].startswith('h5')), sum(1 for r in R if r['np'] == 2)), '',
                  'hard findings: ' + ', '.join('%s %d' % (c, tot[c]) for c in HARD),
                  '', 'soft findings: ' + ', '.join('%s %d' % (c, tot[c]) for c in SOFT), '']
        rss = sorted(r['rss'] for r in R if r['rss'])
        if rss:
            big = max(R, key=lambda r: r['rss'] or 0)
            lines += ['peak RSS per input: median %.0f MB, max %.0f MB (%s, %s)' %
                      (statistics.median(rss) / 1024, rss[-1] / 1024, big['id'], big['target']), '']
        hist = {}
        for r in R:
            k = 'timeout' if r['rc'] is None else str(r['rc'])
            hist[k] = hist.get(k, 0) + 1
        lines += ['exit codes: ' + ', '.join('%s: %d' % (k, v) for k, v in sorted(hist.items())), '',
                  '| target | inputs | exit codes | hard | soft | max RSS MB | max s |', '| --- | --- | --- | --- | --- | --- | --- |']
        for t in sorted(set(r['target'] for r in R)):
            T = [r for r in R if r['target'] == t]
            h = {}
            for r in T:
                k = 'T' if r['rc'] is None else str(r['rc'])
                h[k] = h.get(k, 0) + 1
            lines.append('| %s | %d | %s | %d | %d | %.0f | %.1f |' % (
                t, len(T), ' '.join('%s:%d' % kv for kv in sorted(h.items())),
                sum(1 for r in T if any(c in HARD for c in r['cats'])),
                sum(1 for r in T if r['cats'] and not any(c in HARD for c in r['cats'])),
                max((r['rss'] or 0) for r in T) / 1024, max(r['secs'] for r in T)))
        # near misses: what a smaller bound or a slower machine would turn into findings
        for title, key, unit in (('Largest peak RSS', lambda r: r['rss'] or 0, lambda r: '%.0f MB' % ((r['rss'] or 0) / 1024)),
                                 ('Slowest', lambda r: r['secs'], lambda r: '%.1f s' % r['secs'])):
            lines += ['', '## %s (top 5)' % title, '']
            for r in sorted(R, key=key, reverse=True)[:5]:
                lines.append('- %s %s, %s, exit %s: %s (`%s`)' % (r['id'], r['target'], unit(r), r['rc'],
                                                                 r['desc'][:100], r['recipe']))
        lines += ['', '## Findings by signature', '',
                  'Each signature: how many inputs hit it; the first ones are saved with repro.sh '
                  '(up to 3 per hard signature, 1 per soft one).', '']
        sigs = {}
        for r in R:
            if r.get('sig'):
                sigs.setdefault(r['sig'], []).append(r)
        for sg, rs in sorted(sigs.items(), key=lambda kv: (kv[0].split(' |')[0] not in HARD, kv[0])):
            lines.append('- **%s**: %d input(s)' % (sg, len(rs)))
            for r in rs:
                if r.get('dir'):
                    lines.append('  - `%s/repro.sh` (exit %s, %.1f s, %s MB): %s' % (
                        os.path.relpath(r['dir'], ROOT), r['rc'], r['secs'],
                        '%.0f' % (r['rss'] / 1024) if r['rss'] else '?', r['desc'][:120]))
        text = '\n'.join(lines) + '\n'
        open(os.path.join(self.out, 'summary.md'), 'w').write(text)
        print(text)
        return sum(tot[c] for c in HARD)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--build', default=os.path.join(ROOT, 'build-san'))
    ap.add_argument('--out', default=None)
    ap.add_argument('--minutes', type=float, default=10)
    ap.add_argument('--seed', default='1')
    ap.add_argument('--timeout', type=int, default=30)
    ap.add_argument('--mem-bound-mb', type=int, default=1024)
    ap.add_argument('--np2-every', type=int, default=10)
    a = ap.parse_args()
    f = Fuzzer(a)
    t0 = time.time()
    print('fuzz: making the HDF5 seeds in %s' % f.seeds, flush=True)
    f.setup()
    print('fuzz: %d image seeds, %d HDF5 seeds; %.1f min, seed %s' % (len(f.img_seeds), len(f.h5_seeds),
                                                                    a.minutes, a.seed), flush=True)
    f.loop()
    hard = f.summary(time.time() - t0)
    print('summary in %s' % os.path.join(f.out, 'summary.md'))
    sys.exit(1 if hard else 0)


if __name__ == '__main__':
    main()
