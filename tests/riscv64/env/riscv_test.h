// An environment for the riscv-tests ISA tests (isa/rv64u*) that makes each one a static Linux user
// program: it starts at _start in user mode, so none of the machine-mode set-up of the tests' own
// "p" environment (trap vector, PMP, satp, mstatus, mret) is needed or allowed; a test reports its
// result as its exit status through the exit system call, where "p" writes it to tohost.
//
// Build with -nostdlib -static and -mno-relax: TESTNUM lives in gp, so the linker must not relax
// addresses to gp-relative ones.

#ifndef VM_RISCV_TEST_USER_H
#define VM_RISCV_TEST_USER_H

#define TESTNUM gp

#define SYS_exit 93

// The init macro runs first in every test; a floating-point test starts with fcsr clear.
#define RVTEST_RV64U   \
  .macro init;         \
  .endm

#define RVTEST_RV64UF  \
  .macro init;         \
  csrwi fcsr, 0;       \
  .endm

#define RVTEST_CODE_BEGIN  \
  .text;                   \
  .align 2;                \
  .globl _start;           \
_start:                    \
  li TESTNUM, 0;           \
  init;

#define RVTEST_CODE_END    \
  unimp

// Exit status 0: every case passed.
#define RVTEST_PASS        \
  fence;                   \
  li TESTNUM, 1;           \
  li a0, 0;                \
  li a7, SYS_exit;         \
  ecall

// Exit status TESTNUM, the number of the failing case (all are below 256); 255 if that number would
// read as 0, so a failure never looks like a pass.
#define RVTEST_FAIL        \
  fence;                   \
  andi a0, TESTNUM, 0xff;  \
  bnez a0, 1f;             \
  li a0, 255;              \
1:                         \
  li a7, SYS_exit;         \
  ecall

#define EXTRA_DATA

#define RVTEST_DATA_BEGIN                                      \
  EXTRA_DATA                                                   \
  .align 4; .global begin_signature; begin_signature:

#define RVTEST_DATA_END .align 4; .global end_signature; end_signature:

#endif
