# End-to-end check of `moelab train --moe` on a slice of Fashion-MNIST: short runs with a few routers
# (one with capacity), routing statistics in the output, eval of the checkpoint, resume, the routing
# telemetry file plotted by `moelab plot`, old-style checkpoints, and clean errors for bad MoE flags.
#   cmake -DMOELAB=<path to moelab> -DWORK_DIR=<scratch dir> -P check_moe.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/app_checks.cmake)

# --help documents every MoE flag.
run_ok(help ${MOELAB} train --help)
foreach(flag --moe --router --experts --top-k --expert-hidden --expert-activation --capacity-factor --drop-policy
             --aux-loss-coef --z-loss-coef --bias-update-rate --top-p --jitter --telemetry --telemetry-every
             topk noisy gshard expert-choice sigmoid-bias cosine dense-to-sparse top-p hash)
  expect("${help}" "${flag}" "train --help")
endforeach()

set(common --test-limit 300 --progress none --threads 1 --hidden 32)
set(small ${common} --train-limit 512)
set(stats "moe: dropped [0-9.]+% of slots, [0-9.]+% of tokens, [0-9.]+ experts/token, entropy [0-9.]+, imbalance [0-9.]+, dead [0-8]/8, load \\[[0-9]+( [0-9]+)+\\]%, aux [0-9.]+")

# Top-k router, dropless, 2 epochs of 1024 images on the mlp; checkpoint, telemetry, eval, resume.
set(ckpt ${WORK_DIR}/topk.safetensors)
run_ok(out ${MOELAB} train --model mlp --moe --epochs 2 -E 8 -k 2 --telemetry-every 4 -o ${ckpt} ${common}
       --train-limit 1024)
expect("${out}" "moe topk, 8 experts, top-2, swiglu f=64, dropless; routing telemetry .*topk.telemetry.json" "moe header")
expect("${out}" "epoch 1/2: train loss.*\n  ${stats}\nepoch 2/2" "epoch 1 routing stats")
expect("${out}" "moe: dropped 0.0% of slots, 0.0% of tokens, 2.00 experts/token" "dropless top-2")
expect("${out}" "test accuracy ([0-9.]+)% on 300 images after 2 epochs" "final line")
string(REGEX MATCH "test accuracy ([0-9.]+)%" _ "${out}")
set(acc ${CMAKE_MATCH_1})
if(acc LESS 50)
  message(FATAL_ERROR "two MoE epochs on 512 images should reach 50% test accuracy, got ${acc}%")
endif()
set(tele ${WORK_DIR}/topk.telemetry.json)
if(NOT EXISTS ${tele})
  message(FATAL_ERROR "no telemetry written at ${tele}")
endif()
file(READ ${tele} json)
expect("${json}" "\"format\": \"moelab.routing_telemetry\"" "telemetry format")
expect("${json}" "\"name\": \"3.moe\"" "telemetry layer name")
expect("${json}" "\"step\": 28" "telemetry every 4 steps over 32 steps")

run_ok(eval_text ${MOELAB} eval ${ckpt} --test-limit 300 --telemetry ${WORK_DIR}/eval.telemetry.json)
expect("${eval_text}" "accuracy ${acc}% on 300 images" "eval rebuilds the MoE model")
string(REPLACE "moe: " "moe 3.moe: " eval_stats "${stats}")
expect("${eval_text}" "\n  ${eval_stats}\n" "eval prints the test set's routing stats")
expect("${eval_text}" "moe 3.moe: dropped 0.0% of slots, 0.0% of tokens, 2.00 experts/token" "eval: dropless top-2")
run_ok(eval_json ${MOELAB} eval ${ckpt} --test-limit 300 --json)
expect("${eval_json}" "\"moe\":{[^}]*\"enabled\":true" "eval --json shows the MoE config")
expect("${eval_json}" "\"routing\":{\"3.moe\":{[^}]*\"experts_per_token\":2.0" "eval --json has the routing stats")
# The test set's class x expert counts: 300 images x 2 slots over a 10 x 8 heatmap.
run_ok(out ${MOELAB} plot heatmap ${WORK_DIR}/eval.telemetry.json --counts -o ${WORK_DIR}/eval_heat.svg)
expect("${out}" "class x expert counts, 10 classes, 8 experts, layer 3.moe" "plot heatmap of eval telemetry")
file(READ ${WORK_DIR}/eval.telemetry.json json)
set(total 0)
foreach(c RANGE 9)
  foreach(e RANGE 7)
    string(JSON n GET "${json}" layers 0 class_counts ${c} ${e})
    math(EXPR total "${total} + ${n}")
  endforeach()
endforeach()
if(NOT total EQUAL 600)
  message(FATAL_ERROR "eval telemetry: class x expert counts should sum to 300 images x 2 slots, got ${total}")
endif()

run_ok(resumed ${MOELAB} train --epochs 3 --resume ${ckpt} -o ${WORK_DIR}/resumed.safetensors --progress none --threads 1 --test-limit 300)
expect("${resumed}" "resuming .* after epoch 2" "resume")
expect("${resumed}" "moe topk, 8 experts, top-2" "resume keeps the MoE config")
expect("${resumed}" "epoch 3/3: train loss.*\n  ${stats}" "resumed epoch with routing stats")
file(READ ${WORK_DIR}/resumed.telemetry.json json)
expect("${json}" "\"step\": 28,.*\"step\": 32," "resumed telemetry continues the old history")

# A resumed run continues the random streams (router noise, jitter, dropout) where they stopped: one
# epoch plus a resumed second equals two epochs in one go, loss for loss and routing line for line.
set(noisy --model mlp --moe --router noisy --jitter 0.01 --dropout 0.2 --schedule constant ${small})
run_ok(straight ${MOELAB} train ${noisy} --epochs 2 -o ${WORK_DIR}/straight.safetensors)
run_ok(out ${MOELAB} train ${noisy} --epochs 1 -o ${WORK_DIR}/half.safetensors)
run_ok(continued ${MOELAB} train --epochs 2 --resume ${WORK_DIR}/half.safetensors -o ${WORK_DIR}/continued.safetensors
       --progress none --threads 1 --test-limit 300)
set(epoch2 "epoch 2/2: train loss [0-9.]+ acc [0-9.]+% \\| test loss [0-9.]+ acc [0-9.]+%[^\n]*\n  moe: [^\n]*")
string(REGEX MATCH "${epoch2}" a "${straight}")
string(REGEX MATCH "${epoch2}" b "${continued}")
string(REGEX REPLACE "\\| [0-9ms.]+\n" "\n" a "${a}")  # the epoch's wall time may differ
string(REGEX REPLACE "\\| [0-9ms.]+\n" "\n" b "${b}")
if(a STREQUAL "" OR NOT a STREQUAL b)
  message(FATAL_ERROR "resume did not continue the run:\n straight: ${a}\n resumed:  ${b}")
endif()

# Both plots on the telemetry.
run_ok(out ${MOELAB} plot load ${WORK_DIR}/resumed.telemetry.json -o ${WORK_DIR}/load.svg)
expect("${out}" "expert load over 12 steps, 8 experts, layer 3.moe" "plot load")
run_ok(out ${MOELAB} plot heatmap ${WORK_DIR}/resumed.telemetry.json -o ${WORK_DIR}/heat.svg)
expect("${out}" "class x expert counts, 10 classes, 8 experts, layer 3.moe" "plot heatmap")
file(READ ${WORK_DIR}/heat.svg svg)
string(REGEX MATCHALL "<rect class=\"cell\"" cells "${svg}")
list(LENGTH cells n)
if(NOT n EQUAL 80)
  message(FATAL_ERROR "heat.svg: expected 10 x 8 cells, got ${n}")
endif()

# GShard top-2 with capacity on the cnn: slots get dropped; eval agrees with training.
set(ckpt ${WORK_DIR}/gshard.safetensors)
run_ok(out ${MOELAB} train --model cnn --moe --router gshard -E 4 --capacity-factor 0.5 --expert-activation relu
       --epochs 1 -o ${ckpt} --telemetry ${WORK_DIR}/gs.json ${small})
expect("${out}" "moe gshard, 4 experts, top-2, relu f=64, capacity factor 0.5; routing telemetry .*gs.json" "gshard header")
expect("${out}" "moe: dropped [1-9][0-9.]*% of slots" "capacity drops slots")
string(REGEX MATCH "test accuracy ([0-9.]+)%" _ "${out}")
run_ok(eval_text ${MOELAB} eval ${ckpt} --test-limit 300)
expect("${eval_text}" "accuracy ${CMAKE_MATCH_1}% on 300 images" "eval of the gshard cnn")
if(NOT EXISTS ${WORK_DIR}/gs.json)
  message(FATAL_ERROR "--telemetry path not written")
endif()

# Routers with their own knobs: score-dropping top-k on the expert bias router, top-p, expert choice.
run_ok(out ${MOELAB} train --model mlp --moe --router sigmoid-bias --capacity-factor 1 --drop-policy score
       --bias-update-rate 0.01 --epochs 1 -o ${WORK_DIR}/sb.safetensors ${small})
expect("${out}" "capacity factor 1 \\(drop by score\\)" "sigmoid-bias header")
expect("${out}" "${stats}" "sigmoid-bias stats")
run_ok(out ${MOELAB} train --model mlp --moe --router top-p --top-p 0.3 -k 3 --epochs 1 -o ${WORK_DIR}/tp.safetensors ${small})
expect("${out}" "moe top-p, 8 experts, p 0.3 \\(at most 3\\)" "top-p header")
run_ok(out ${MOELAB} train --model mlp --moe --router expert-choice -E 4 --epochs 1 -o ${WORK_DIR}/ec.safetensors ${small})
expect("${out}" "dead 0/4, load \\[25 25 25 25\\]%" "expert choice is balanced")
expect("${out}" "moe: dropped 0.0% of slots, 0.0% of tokens, 1.00 experts/token" "expert choice: C = T/E, nothing dropped")

# A checkpoint without the MoE part (as written before --moe existed) loads with MoE off.
run_ok(out ${MOELAB} train --model mlp --epochs 1 -o ${WORK_DIR}/plain.safetensors ${small})
if(out MATCHES "\n  moe|moe topk")
  message(FATAL_ERROR "a run without --moe printed MoE output:\n${out}")
endif()
if(EXISTS ${WORK_DIR}/plain.telemetry.json)
  message(FATAL_ERROR "a run without --moe wrote telemetry")
endif()
run_ok(out ${MOELAB} eval ${WORK_DIR}/plain.safetensors --test-limit 300 --json)
if(out MATCHES "\"moe\"|\"routing\"")
  message(FATAL_ERROR "a plain checkpoint's eval names moe or routing:\n${out}")
endif()
run_fails("--telemetry: .*plain.safetensors holds a model without MoE layers" "eval --telemetry without MoE"
          ${MOELAB} eval ${WORK_DIR}/plain.safetensors --test-limit 300 --telemetry ${WORK_DIR}/none.json)

# Bad MoE flags: one line naming the flag, non-zero exit, nothing written.
set(bad ${WORK_DIR}/bad.safetensors)
run_fails("--router: foo not in" "unknown router" ${MOELAB} train --moe --router foo -o ${bad} ${small})
run_fails("--top-k 9 exceeds --experts 8" "k > E" ${MOELAB} train --moe -k 9 -o ${bad} ${small})
run_fails("--capacity-factor must be >= 0" "negative capacity factor" ${MOELAB} train --moe --capacity-factor -1 -o ${bad} ${small})
run_fails("--experts must be positive" "no experts" ${MOELAB} train --moe -E 0 -o ${bad} ${small})
run_fails("--router gshard .* needs --top-k 2" "gshard k" ${MOELAB} train --moe --router gshard -k 3 -o ${bad} ${small})
run_fails("--top-p must be in \\(0, 1\\]" "top-p" ${MOELAB} train --moe --router top-p --top-p 1.5 -o ${bad} ${small})
run_fails("--jitter must be in \\[0, 1\\)" "jitter" ${MOELAB} train --moe --jitter 1 -o ${bad} ${small})
run_fails("--drop-policy: .* not in" "drop policy" ${MOELAB} train --moe --drop-policy random -o ${bad} ${small})
run_fails("--telemetry-every must be positive" "telemetry interval" ${MOELAB} train --moe --telemetry-every 0 -o ${bad} ${small})
run_fails("--router requires --moe" "MoE flag without --moe" ${MOELAB} train --router noisy -o ${bad} ${small})
if(EXISTS ${bad})
  message(FATAL_ERROR "a rejected run wrote a checkpoint")
endif()
message(STATUS "moelab train --moe: routers, capacity, stats, eval, resume, telemetry plots and errors OK (accuracy ${acc}%)")
