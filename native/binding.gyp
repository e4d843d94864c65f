{
  "variables": {
    # native: this CPU's SIMD flags (an addon built where it runs); x64, avx2 or avx512: a fixed tier for the
    # prebuilt platform package (scripts/pack-native.js, e.g. node-gyp rebuild -- -Ddigits_isa=avx2 -Ddigits_prebuilt=1)
    "digits_isa%": "native",
    # 1: find libdnnl, libgomp and libOpenCL beside the addon first (DT_RPATH $ORIGIN, which also serves the
    # libraries libdnnl itself needs), and strip the symbols
    "digits_prebuilt%": 0
  },
  "targets": [
    {
      "target_name": "digits_native",
      "sources": [
        "src/addon.cc",
        "src/common.cc",
        "src/conv.cc",
        "src/conv1ch.cc",
        "src/pool.cc",
        "src/avgpool.cc",
        "src/dense.cc",
        "src/bnorm.cc",
        "src/eltwise.cc",
        "src/softmax_ce.cc",
        "src/optim.cc",
        "src/dropout.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "<!@(node cpu-flags.js <(digits_isa))"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"],
      "conditions": [
        ["digits_prebuilt==1", {
          "ldflags": ["-Wl,--disable-new-dtags", "-Wl,-rpath,'$$ORIGIN'", "-s"]
        }]
      ]
    }
  ]
}
