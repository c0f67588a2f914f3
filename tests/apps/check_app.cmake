# End-to-end check of the moelab program on a slice of Fashion-MNIST: train one epoch, evaluate
# the checkpoint, resume for a second epoch, and reject bad input with a clear message.
#   cmake -DMOELAB=<path to moelab> -DWORK_DIR=<scratch dir> -P check_app.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/app_checks.cmake)
set(ckpt ${WORK_DIR}/run.safetensors)

# --help documents every flag.
run_ok(help ${MOELAB} train --help)
foreach(flag --model --hidden --dropout --optimizer --lr --momentum --weight-decay --schedule --epochs --batch-size
             --seed --threads --data-dir --checkpoint --resume --train-limit --test-limit --progress)
  expect("${help}" "${flag}" "train --help")
endforeach()

# One epoch on 1024 images; output is not a terminal, so progress comes as plain lines.
run_ok(out ${MOELAB} train --model mlp --epochs 2 --train-limit 1024 --test-limit 500 --progress lines -o ${ckpt} --threads 1)
expect("${out}" "epoch 1/2 [0-9]+/16 loss [0-9.]+ acc [0-9.]+% [0-9]+ samples/s" "progress lines")
expect("${out}" "epoch 2/2: train loss [0-9.]+ acc [0-9.]+% \\| test loss [0-9.]+ acc [0-9.]+%" "epoch summary")
expect("${out}" "test accuracy ([0-9.]+)% on 500 images after 2 epochs" "final line")
string(REGEX MATCH "test accuracy ([0-9.]+)%" _ "${out}")
set(train_acc ${CMAKE_MATCH_1})
if(train_acc LESS 60)
  message(FATAL_ERROR "two epochs on 1024 images should reach 60% test accuracy, got ${train_acc}%")
endif()
if(NOT EXISTS ${ckpt})
  message(FATAL_ERROR "no checkpoint written at ${ckpt}")
endif()

# eval rebuilds the model from the checkpoint and gets the same accuracy.
run_ok(eval_out ${MOELAB} eval ${ckpt} --test-limit 500 --json)
expect("${eval_out}" "\"test_accuracy\":" "eval --json")
expect("${eval_out}" "\"epochs\":2" "eval --json epochs")
run_ok(eval_text ${MOELAB} eval ${ckpt} --test-limit 500)
expect("${eval_text}" "accuracy ${train_acc}% on 500 images" "eval matches training's final accuracy")

# Resume after epoch 2 of 3: only epoch 3 runs.
run_ok(resumed ${MOELAB} train --epochs 3 --resume ${ckpt} -o ${WORK_DIR}/resumed.safetensors --progress none --threads 1 --test-limit 500)
expect("${resumed}" "resuming .* after epoch 2" "resume")
expect("${resumed}" "new cosine cycle from lr 0.001 over epochs 3-3" "extending a finished run restarts the schedule")
expect("${resumed}" "epoch 3/3: train loss" "resumed epoch")
if(resumed MATCHES "epoch [12]/3:")
  message(FATAL_ERROR "resume re-ran finished epochs:\n${resumed}")
endif()

# Resuming a finished run with the same epoch count trains nothing and re-evaluates.
run_ok(again ${MOELAB} train --epochs 2 --resume ${ckpt} -o ${WORK_DIR}/again.safetensors --progress none --threads 1 --test-limit 500)
expect("${again}" "nothing to train: the checkpoint already has 2 epochs" "finished run")
expect("${again}" "test accuracy ${train_acc}% on 500 images" "finished run keeps its accuracy")

# Bad input: a clear message naming the problem, a non-zero exit.
file(WRITE ${WORK_DIR}/broken.safetensors "not a checkpoint")
execute_process(COMMAND ${MOELAB} eval ${WORK_DIR}/broken.safetensors RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0)
  message(FATAL_ERROR "eval of a broken file succeeded")
endif()
expect("${err}" "broken.safetensors" "error names the file")
execute_process(COMMAND ${MOELAB} train --model transformer RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0)
  message(FATAL_ERROR "train --model transformer succeeded")
endif()
expect("${err}" "--model" "error names the flag")
execute_process(COMMAND ${MOELAB} train --data-dir ${WORK_DIR}/nowhere --progress none RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(rc EQUAL 0)
  message(FATAL_ERROR "train with a missing data dir succeeded")
endif()
expect("${err}" "nowhere" "error names the missing data")
message(STATUS "moelab program: train, eval, resume and errors OK (accuracy ${train_acc}%)")
