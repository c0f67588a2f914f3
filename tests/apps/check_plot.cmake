# `moelab plot`: SVG plots from a routing telemetry JSON, and clean errors for bad input.
#   cmake -DMOELAB=<path to moelab> -DWORK_DIR=<scratch dir> -P check_plot.cmake
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/app_checks.cmake)
set(tele ${WORK_DIR}/telemetry.json)
set(entry [=["num_tokens":4,"top_k":1,"routed_per_expert":[3,1,0],"dropped_fraction":0,"tokens_dropped_fraction":0,"mean_entropy":0.9,"mean_top1_margin":0.3,"mean_topk_margin":0.3,"dead_experts":[2],"load_imbalance":2.25]=])
file(WRITE ${tele} "{\"format\":\"moelab.routing_telemetry\",\"version\":1,\"layers\":[
 {\"name\":\"moe0\",\"num_experts\":3,\"class_counts\":[[2,0,0],[1,1,0]],\"history\":[
   {\"step\":0,\"tokens_per_expert\":[3,1,0],${entry}},{\"step\":5,\"tokens_per_expert\":[2,2,0],${entry}}]},
 {\"name\":\"moe1\",\"num_experts\":3,\"history\":[{\"step\":0,\"tokens_per_expert\":[3,1,0],${entry}}]}]}")

foreach(kind load heatmap)
  run_ok(help ${MOELAB} plot ${kind} --help)
  foreach(flag --layer --output --counts --title)
    expect("${help}" "${flag}" "plot ${kind} --help")
  endforeach()
endforeach()
expect("${help}" "--class-names" "plot heatmap --help")

run_ok(out ${MOELAB} plot load ${tele} --layer moe0 -o ${WORK_DIR}/load.svg)
expect("${out}" "wrote .*load.svg: expert load over 2 steps, 3 experts, layer moe0" "plot load")
file(READ ${WORK_DIR}/load.svg svg)
expect("${svg}" "^<\\?xml[^\n]*\n<svg " "load.svg header")
expect("${svg}" "</svg>\n$" "load.svg end")
string(REGEX MATCHALL "<polyline" lines "${svg}")
list(LENGTH lines n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "load.svg: expected 3 polylines (one per expert), got ${n}")
endif()
run_ok(out ${MOELAB} plot heatmap ${tele} --layer moe0 -o ${WORK_DIR}/heat.svg --class-names shirt,boot --counts)
file(READ ${WORK_DIR}/heat.svg svg)
string(REGEX MATCHALL "<rect class=\"cell\"" cells "${svg}")
list(LENGTH cells n)
if(NOT n EQUAL 6)
  message(FATAL_ERROR "heat.svg: expected 2 x 3 cells, got ${n}")
endif()
expect("${svg}" ">boot</text>" "heatmap class names")

run_fails("no layer 'nope' \\(--layer must be one of: moe0, moe1\\)" "unknown layer"
          ${MOELAB} plot load ${tele} --layer nope -o ${WORK_DIR}/x.svg)
run_fails("2 layers: choose one with --layer" "ambiguous layer" ${MOELAB} plot load ${tele} -o ${WORK_DIR}/x.svg)
run_fails("nowhere.json" "missing file" ${MOELAB} plot load ${WORK_DIR}/nowhere.json)
run_fails("moe1' has no class x expert counts" "heatmap without counts"
          ${MOELAB} plot heatmap ${tele} --layer moe1 -o ${WORK_DIR}/x.svg)
run_fails("class_names has 1 names" "wrong class names"
          ${MOELAB} plot heatmap ${tele} --layer moe0 --class-names one -o ${WORK_DIR}/x.svg)
file(WRITE ${WORK_DIR}/broken.json "{")
run_fails("broken.json is not valid JSON" "broken file" ${MOELAB} plot load ${WORK_DIR}/broken.json)
if(EXISTS ${WORK_DIR}/x.svg)
  message(FATAL_ERROR "a failed plot left an output file")
endif()
message(STATUS "moelab plot: load, heatmap and errors OK")
