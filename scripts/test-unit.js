#!/usr/bin/env node
// npm run test:unit: every suite except those that train on real MNIST, drive Chromium, kill processes
// or install packages (listed below, with why), with the fuzzers on a quarter of their inputs, so a
// change can be checked in under a minute. npm test runs them all, whole. New suites are unit suites
// unless added here.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SLOW = {
  'browser.test.js': 'the page in Chromium',
  'lab.test.js': 'the lab in Chromium, training in the page',
  'report.test.js': 'trains presets, renders the report in Chromium',
  'cli.test.js': 'digits train on real MNIST, end to end',
  'train.test.js': 'real-MNIST training runs',
  'checkpoint.test.js': 'digits train killed with SIGKILL/SIGINT/SIGTERM and resumed',
  'fuzz-checkpoint.test.js': 'a trained model behind every case',
  'serve.test.js': 'a trained model, load and worker-pool tests',
  'keras-cli.test.js': 'the CLI over Keras files, fine-tuning on MNIST',
  'onnx.test.js': 'onnxruntime on a trained model and 1,000 test digits',
  'real-renders.test.js': 'a trained model reading 216 renders and the real digits',
  'image.test.js': 'a trained model reading re-rendered test digits',
  'image-steps.test.js': 'a trained model behind the pipeline checks',
  'keras.test.js': 'converts and scores the seed003 model on 10,000 digits',
  'wasm-kernels.test.js': 'trains on MNIST with the wasm core',
  'packed-install.test.js': 'npm pack and install into a fresh project',
};

const dir = path.resolve(__dirname, '../dist/test');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.test.js') && !(f in SLOW))
  .map((f) => path.join(dir, f));
// the fuzz suites at a quarter of their inputs (npm test runs them whole)
const env = { ...process.env, DIGITS_FUZZ_SCALE: process.env.DIGITS_FUZZ_SCALE ?? '0.25' };
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
