# tq_add_layer(<name> DEPS <libs...>): one static library per src/ folder, sources globbed.
function(tq_add_layer name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc ${CMAKE_CURRENT_SOURCE_DIR}/*/*.cc)
  list(FILTER _srcs EXCLUDE REGEX "^${CMAKE_CURRENT_SOURCE_DIR}/cuda/")  # src/<layer>/cuda: its own library (TQ_CUDA=ON)
  if(_srcs)
    add_library(tq_${name} STATIC ${_srcs})
    target_include_directories(tq_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(tq_${name} PUBLIC ${ARG_DEPS} PRIVATE tq_warnings)
  else()  # a layer whose sources have not been written yet: headers only
    add_library(tq_${name} INTERFACE)
    target_include_directories(tq_${name} INTERFACE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(tq_${name} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# tq_add_test(<name> SOURCES <files...> LABEL <label> [DEPS <libs...>] [TIMEOUT s])
# One GoogleTest executable; every TEST inside it is registered with CTest under the label.
# Labels: unit (fast, no shared data), golden (reference models / corpus from TQ_SHARED_DATA),
# slow (minutes; not in the default run), fuzz (bounded libFuzzer runs).
function(tq_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;LABEL" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} ${PROJECT_SOURCE_DIR}/tests/common/test_main.cc)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} tq_core GTest::gtest tq_warnings)
  target_compile_definitions(${name} PRIVATE TQ_SHARED_DATA="${TQ_SHARED_DATA}"
                                             TQ_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  # OMP_WAIT_POLICY=PASSIVE: idle OpenMP workers sleep instead of spinning. On a shared, loaded
  # machine spinning workers starve the thread that still has work (measured 6x slower).
  gtest_discover_tests(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT OMP_WAIT_POLICY=PASSIVE DISCOVERY_TIMEOUT 60)
endfunction()
