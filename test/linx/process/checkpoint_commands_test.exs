Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Process.CheckpointCommandsTest do
  # The commands Linx.Capabilities and Linx.Seccomp send to a parked session (0.2's
  # message shapes), applied by the child in the order they arrive; no_new_privs.
  use ExUnit.Case, async: true

  import Bitwise
  import Linx.Process.TestHelpers

  alias Linx.Process, as: LP

  @status_caps ["/bin/sh", "-c", "grep -E '^(CapBnd|CapAmb|NoNewPrivs)' /proc/self/status"]

  @cap_setpcap 8
  @cap_net_bind_service 10
  @cap_net_raw 13

  # linux/audit.h, linux/seccomp.h, linux/filter.h (classic BPF opcodes)
  @audit_arch_x86_64 0xC000003E
  @seccomp_ret_kill_process 0x80000000
  @seccomp_ret_errno 0x00050000
  @seccomp_ret_allow 0x7FFF0000
  @bpf_ld_w_abs 0x20
  @bpf_jeq_k 0x15
  @bpf_ret_k 0x06
  # asm/unistd_64.h
  @nr_uname 63

  @x86_64 :erlang.system_info(:system_architecture)
          |> List.to_string()
          |> String.starts_with?("x86_64")

  defp insn(code, jt, jf, k), do: <<code::little-16, jt, jf, k::little-32>>

  # Allows everything except uname(2), which fails with EPERM; other architectures die.
  defp deny_uname do
    insn(@bpf_ld_w_abs, 0, 0, 4) <>
      insn(@bpf_jeq_k, 1, 0, @audit_arch_x86_64) <>
      insn(@bpf_ret_k, 0, 0, @seccomp_ret_kill_process) <>
      insn(@bpf_ld_w_abs, 0, 0, 0) <>
      insn(@bpf_jeq_k, 0, 1, @nr_uname) <>
      insn(@bpf_ret_k, 0, 0, @seccomp_ret_errno ||| 1) <>
      insn(@bpf_ret_k, 0, 0, @seccomp_ret_allow)
  end

  defp status_fields(text) do
    for line <- String.split(text, "\n", trim: true), into: %{} do
      [k, v] = String.split(line, ":", parts: 2)
      {k, String.trim(v)}
    end
  end

  defp own_caps(field) do
    [_, hex] = Regex.run(~r/^#{field}:\s+([0-9a-f]+)$/m, File.read!("/proc/self/status"))
    String.to_integer(hex, 16)
  end

  defp parked(argv, opts \\ []) do
    {:ok, s} = LP.spawn(Keyword.merge([argv: argv, stdio: [stdout: :pipe, stderr: :pipe]], opts))
    _ = await_ready()
    s
  end

  describe "capabilities" do
    @describetag :root

    test "drop_bounding removes bits from the workload's bounding set" do
      s = parked(@status_caps)
      assert :ok = GenServer.call(s, {:cap_drop_bounding, 1 <<< @cap_net_raw})
      :ok = LP.proceed(s)
      out = collect()
      bnd = String.to_integer(status_fields(out.stdout)["CapBnd"], 16)
      assert (bnd &&& 1 <<< @cap_net_raw) == 0
      assert bnd == (own_caps("CapBnd") &&& bnot(1 <<< @cap_net_raw))
      assert out.terminal == {:linx_process, :exited, 0}
    end

    test "a kernel refusal ends the session at the checkpoint with errno and stage" do
      # Bit 63 is no capability: PR_CAPBSET_DROP answers EINVAL.
      s = parked(["/bin/true"])
      assert :ok = GenServer.call(s, {:cap_drop_bounding, 1 <<< 63})
      assert_receive {:linx_process, :error, 22, :cap_drop_bounding}, 5_000
      refute_received {:linx_process, :running}
      assert {:error, %LP.Error{stage: :cap_drop_bounding, errno: :einval}} = LP.wait(s)

      # E must be a subset of P.
      s = parked(["/bin/true"])
      assert :ok = GenServer.call(s, {:cap_set_thread, 1, 0, 0})
      assert_receive {:linx_process, :error, 1, :cap_set_thread}, 5_000

      # An ambient capability must be permitted and inheritable; I is empty here.
      s = parked(["/bin/true"])
      assert :ok = GenServer.call(s, {:cap_set_ambient, 1 <<< @cap_net_bind_service})
      assert_receive {:linx_process, :error, 1, :cap_set_ambient}, 5_000
      assert LP.proceed(s) == {:error, :no_process}
    end

    test "commands apply in the order sent: thread sets, then ambient, then a drop" do
      prm = own_caps("CapPrm")
      s = parked(@status_caps)
      # Make cap_net_bind_service inheritable, then ambient: both succeed.
      assert :ok = GenServer.call(s, {:cap_set_thread, prm, prm, 1 <<< @cap_net_bind_service})
      assert :ok = GenServer.call(s, {:cap_set_ambient, 1 <<< @cap_net_bind_service})
      # Then drop CAP_SETPCAP from the effective set: a later bounding drop needs it.
      assert :ok = GenServer.call(s, {:cap_set_thread, prm &&& bnot(1 <<< @cap_setpcap), prm, 0})
      assert :ok = GenServer.call(s, {:cap_drop_bounding, 1 <<< @cap_net_raw})
      assert_receive {:linx_process, :error, 1, :cap_drop_bounding}, 5_000
    end

    test "commands are refused outside the checkpoint and masks are checked" do
      agent = fake_agent!("exec cat <&3 >/dev/null")
      {:ok, s} = LP.spawn(argv: ["/bin/true"], agent: agent)
      assert GenServer.call(s, {:cap_drop_bounding, 1}) == {:error, :not_ready}
      Process.unlink(s)
      Process.exit(s, :kill)

      s = parked(["/bin/sleep", "30"])
      assert GenServer.call(s, {:cap_drop_bounding, -1}) == {:error, {:bad_mask, -1}}
      assert GenServer.call(s, {:cap_set_ambient, 1 <<< 64}) == {:error, {:bad_mask, 1 <<< 64}}
      :ok = LP.proceed(s)
      await_running()
      assert GenServer.call(s, {:cap_drop_bounding, 1}) == {:error, :running}
      assert GenServer.call(s, {:seccomp_install, deny_uname()}) == {:error, :running}
      :ok = LP.signal(s, 9)
      assert {:ok, {:signaled, 9}} = LP.wait(s)
      assert GenServer.call(s, {:cap_set_ambient, 0}) == {:error, :no_process}
    end
  end

  describe "seccomp" do
    @describetag skip: if(@x86_64, do: false, else: "the test filter is written for x86_64")

    test "a filter installed at the checkpoint governs the workload; no_new_privs is set for it" do
      s = parked(["/bin/sh", "-c", "uname; grep NoNewPrivs /proc/self/status"])
      assert :ok = GenServer.call(s, {:seccomp_install, deny_uname()})
      :ok = LP.proceed(s)
      out = collect()
      assert out.stderr =~ "Operation not permitted"
      assert out.stdout == "NoNewPrivs:\t1\n"
      assert out.terminal == {:linx_process, :exited, 0}
    end

    test "a malformed blob is refused at once, before proceed" do
      s = parked(["/bin/true"])
      assert :ok = GenServer.call(s, {:seccomp_install, <<1, 2, 3, 4, 5, 6, 7>>})
      assert_receive {:linx_process, :error, 22, :seccomp_install}, 5_000
      refute_received {:linx_process, :running}
      assert {:ok, _} = LP.info(s)
    end

    test "a program the kernel rejects fails at install, after proceed, before exec" do
      s = parked(["/bin/true"])
      # One load and no return: the kernel's checker says EINVAL.
      assert :ok = GenServer.call(s, {:seccomp_install, insn(@bpf_ld_w_abs, 0, 0, 0)})
      :ok = LP.proceed(s)
      assert_receive {:linx_process, :error, 22, :seccomp_install}, 5_000
      refute_received {:linx_process, :running}
    end
  end

  test "no_new_privs: set before :ready when asked, off by default" do
    out = run!(@status_caps, no_new_privs: true)
    assert status_fields(out.stdout)["NoNewPrivs"] == "1"
    out = run!(@status_caps)
    assert status_fields(out.stdout)["NoNewPrivs"] == "0"
  end
end
