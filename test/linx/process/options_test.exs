defmodule Linx.Process.OptionsTest do
  # Every invalid option value gives 0.2's error tuple naming it, before any agent runs.
  use ExUnit.Case, async: true

  alias Linx.Process

  @ok [argv: ["/bin/true"]]

  defp spawn_with(extra), do: Process.spawn(Keyword.merge(@ok, extra))

  test "argv: missing, not a list, empty or non-binary head is :argv_required" do
    assert Process.spawn([]) == {:error, :argv_required}
    assert Process.spawn(argv: "/bin/true") == {:error, :argv_required}
    assert Process.spawn(argv: []) == {:error, :argv_required}
    assert Process.spawn(argv: [:bin_true]) == {:error, :argv_required}
  end

  test "argv: relative path, non-binary element or NUL byte is {:bad_argv, argv}" do
    for argv <- [["true"], ["/bin/echo", :x], ["/bin/echo", "a\0b"], ["/bin/tr\0ue"]] do
      assert Process.spawn(argv: argv) == {:error, {:bad_argv, argv}}
    end
  end

  test "namespaces" do
    assert spawn_with(namespaces: [:net, :bogus, :pid, 3]) ==
             {:error, {:bad_namespaces, [:bogus, 3]}}

    assert spawn_with(namespaces: :net) == {:error, {:bad_namespaces, {:not_a_list, :net}}}
  end

  test "env" do
    assert spawn_with(env: "A=1") == {:error, {:bad_env, {:not_a_list, "A=1"}}}

    assert spawn_with(env: ["A=1", ~c"B=2"]) ==
             {:error, {:bad_env, {:not_all_binaries, ["A=1", ~c"B=2"]}}}

    assert spawn_with(env: ["A=1", "B=\0"]) == {:error, {:bad_env, {:nul_byte, "B=\0"}}}
  end

  test "stdio" do
    assert spawn_with(stdio: :tty) == {:error, {:bad_stdio, :tty}}
    assert spawn_with(stdio: %{}) == {:error, {:bad_stdio, %{}}}
    assert spawn_with(stdio: []) == {:error, {:bad_stdio, []}}

    assert spawn_with(stdio: [fd3: :devnull]) ==
             {:error, {:bad_stdio, {:bad_fd_entry, {:fd3, :devnull}}}}

    assert spawn_with(stdio: [:stdin]) == {:error, {:bad_stdio, {:bad_fd_entry, :stdin}}}

    assert spawn_with(stdio: [stdin: :devnull, stdin: :pipe]) ==
             {:error, {:bad_stdio, {:bad_fd_entry, {:stdin, :pipe}}}}

    # There is no per-fd PTY: a PTY is one device for all three fds.
    assert spawn_with(stdio: [stdout: :pty]) == {:error, {:bad_stdio, {:bad_directive, :pty}}}

    for bad <- [{:connect_unix, ""}, {:connect_unix, ~c"/tmp/s"}, {:connect_unix, "/a\0b"}, :file] do
      assert spawn_with(stdio: [stderr: bad]) == {:error, {:bad_stdio, {:bad_directive, bad}}}
    end
  end

  test "cwd, no_new_privs, orphan_policy" do
    assert spawn_with(cwd: ~c"/tmp") == {:error, {:bad_cwd, ~c"/tmp"}}
    assert spawn_with(cwd: "") == {:error, {:bad_cwd, ""}}
    assert spawn_with(cwd: "/t\0mp") == {:error, {:bad_cwd, "/t\0mp"}}
    assert spawn_with(no_new_privs: 1) == {:error, {:bad_no_new_privs, 1}}

    for bad <- [:linger, {:kill, -1}, {:kill, 2_147_483_648}, {:kill, 1.5}, {:term, 5}] do
      assert spawn_with(orphan_policy: bad) == {:error, {:bad_orphan_policy, bad}}
    end
  end

  test "the session's own options" do
    assert spawn_with(owner: "me") == {:error, {:bad_owner, "me"}}
    assert spawn_with(owner: nil) == {:error, {:bad_owner, nil}}
    assert spawn_with(linger: :yes) == {:error, {:bad_linger, :yes}}
    assert spawn_with(auto_proceed: "true") == {:error, {:bad_auto_proceed, "true"}}
    assert spawn_with(agent: :agent) == {:error, {:bad_agent, :agent}}
  end

  test "the first invalid value in option order is the one reported" do
    assert Process.spawn(argv: ["x"], namespaces: :bad, env: :bad) == {:error, {:bad_argv, ["x"]}}

    assert spawn_with(namespaces: :bad, env: :bad) ==
             {:error, {:bad_namespaces, {:not_a_list, :bad}}}

    assert spawn_with(env: :bad, stdio: :bad) == {:error, {:bad_env, {:not_a_list, :bad}}}
  end

  test "unknown keys and non-keyword options raise, naming them" do
    assert_raise ArgumentError, ~r/unknown Linx.Process option :uid/, fn ->
      spawn_with(uid: 0)
    end

    assert_raise ArgumentError, ~r/must be a keyword list/, fn -> Process.spawn(%{argv: []}) end
  end

  test "a missing or non-executable agent is {:missing_binary, path}" do
    assert spawn_with(agent: "/nonexistent/linx_agent") ==
             {:error, {:missing_binary, "/nonexistent/linx_agent"}}

    path = Path.join(System.tmp_dir!(), "linx-noexec-#{System.unique_integer([:positive])}")
    File.write!(path, "#!/bin/sh\n")
    on_exit(fn -> File.rm(path) end)
    assert spawn_with(agent: path) == {:error, {:missing_binary, path}}
  end

  test "enter validates the same options and its target by guard" do
    assert Process.enter(1, argv: []) == {:error, :argv_required}

    assert Process.enter(1, argv: ["/bin/true"], namespaces: [:nope]) ==
             {:error, {:bad_namespaces, [:nope]}}

    assert_raise FunctionClauseError, fn -> Process.enter(0, @ok) end
    assert_raise FunctionClauseError, fn -> Process.enter("1", @ok) end
  end

  test "the verbs' guards refuse non-sessions and out-of-range signals" do
    assert_raise FunctionClauseError, fn -> Process.proceed(:not_a_pid) end
    assert_raise FunctionClauseError, fn -> Process.signal(self(), 0) end
    assert_raise FunctionClauseError, fn -> Process.signal(self(), 65) end
    assert_raise FunctionClauseError, fn -> Process.wait(self(), -1) end
  end

  test "pty_set_winsize refuses malformed sizes without a call" do
    pid = spawn(fn -> :ok end)

    for bad <- [
          {1, 2, 3},
          {-1, 0, 0, 0},
          {70_000, 80, 0, 0},
          :big,
          %{rows: 1},
          %{rows: -1, cols: 1, xpixel: 0, ypixel: 0}
        ] do
      assert Process.pty_set_winsize(pid, bad) == {:error, {:bad_winsize, bad}}
    end
  end

  test "child_spec/1 defaults and overrides" do
    spec = Process.child_spec(argv: ["/bin/true"], auto_proceed: true)

    assert spec == %{
             id: Linx.Process,
             start:
               {Linx.Process, :spawn, [[linger: false, argv: ["/bin/true"], auto_proceed: true]]},
             restart: :permanent,
             shutdown: 5_000,
             type: :worker
           }

    spec =
      Process.child_spec(
        argv: ["/bin/true"],
        id: :x,
        restart: :transient,
        shutdown: 100,
        linger: true
      )

    assert %{id: :x, restart: :transient, shutdown: 100} = spec
    assert {Linx.Process, :spawn, [[argv: ["/bin/true"], linger: true]]} = spec.start
  end
end
