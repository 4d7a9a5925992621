defmodule Linx.Process do
  @moduledoc """
  Processes with a checkpoint: `clone3(2)` into new namespaces (or `setns(2)` into an
  existing process's), a pause before `execve(2)` for host-side setup, then signals,
  stdio relays and exactly one exit report.

      {:ok, s} = Linx.Process.spawn(argv: ["/bin/sleep", "60"], namespaces: [:net, :pid])
      host_pid = receive do {:linx_process, :ready, pid} -> pid end
      # ... the child exists, in its new namespaces, and has not exec'd yet: move links
      # into /proc/<host_pid>/ns/net, write uid maps, join cgroups ...
      :ok = Linx.Process.proceed(s)
      :ok = Linx.Process.signal(s, 9)
      {:ok, {:signaled, 9}} = Linx.Process.wait(s)

  ## How it works

  The BEAM never forks: each session runs one small agent OS process
  (`priv/native/linx_agent`, built from `native/linx_agent` by `mix compile`) as a
  Port with `{:packet, 4}` frames on its fds 3/4, leaving fds 0/1/2 to the workload. The
  agent `clone3`s the child with the namespace flags and `CLONE_PIDFD` (so `:time`
  namespaces are real, and signals and waits never hit a recycled pid), parks it at the
  checkpoint and relays the session's commands to it.

  Starting an agent is about half the cost of a spawn, so once a session's workload is
  past `execve` (or ended), agents are started ahead for the next `spawn/1` or `enter/2`
  (two at most) and wait, idle, for up to a second; one is used only if the BEAM's
  environment and working directory are still what it inherited. When the last spawn
  asked for a new network namespace (without `:user`), those agents also create one
  while idle, and the next such spawn's child enters it instead of `clone3` creating it
  (the costliest part of the clone); it is just as fresh (see docs/process/OVERVIEW.md).
  `config :linx, process_prestart: false` turns this off; an `:agent` option always
  starts its own.

  The session handle returned by `spawn/1` and `enter/2` is a GenServer pid, linked to
  the caller.

  The process tree is BEAM → agent → workload. The workload never outlives its session:

    * a graceful stop (the linked caller exits, a supervisor shuts the session down,
      `GenServer.stop/1`) kills a running workload or aborts a parked one, and returns
      once the agent reports it reaped;
    * the owner process (a pid) exiting stops the session the same way;
    * if the session or the whole VM dies abruptly, the agent sees its fd 3 close and
      kills the workload (with a grace period first if `:orphan_policy` asks for one);
    * if the agent itself dies, the workload gets SIGKILL (`PR_SET_PDEATHSIG`) and the
      owner gets `{:linx_process, :error, exit_status, :agent_died}`.

  Killing the workload does not kill processes it started unless they share a new
  `:pid` namespace with it (its init's death takes the namespace down).

  ## Owner events

  The owner (the caller, or `:owner`) receives `{:linx_process, ...}` messages:

    * `{:linx_process, :ready, host_pid}`: the checkpoint. `host_pid` is the child's pid
      in the BEAM's pid namespace; its own view (1 in a new pid namespace) is
      `info/1`'s `:child_pid`.
    * `{:linx_process, :running}`: `execve` succeeded. The agent sends it at most 1 ms
      after the exec, in the same write as the exit when the workload ends sooner.
    * exactly one terminal event: `{:linx_process, :exited, code}`,
      `{:linx_process, :signaled, signum}`, `{:linx_process, :aborted}`, or
      `{:linx_process, :error, errno, stage}` (see "Error stages").
    * `{:linx_process, :pty_out, bytes}` with `stdio: :pty`;
      `{:linx_process, :stdout, bytes}` and `{:linx_process, :stderr, bytes}` for fds
      set to `:pipe`. All output is delivered before the terminal event.

  ## The checkpoint

  Before `:ready` the child has already wired its stdio and set `no_new_privs` if asked
  (it resets its signal dispositions and mask right after). While it is parked, the host
  can write its uid/gid maps (`/proc/<host_pid>/uid_map`), move network links into its
  namespace, pivot its root, and send capability and seccomp commands
  (`Linx.Capabilities`, `Linx.Seccomp`), which the child applies in the order they
  arrive. `proceed/1` then makes it `chdir` to `:cwd`, install the seccomp filters
  (last, so a filter only has to allow `execve`), and `execve`. `abort/1` discards it
  instead.

  ## Error stages

  `{:linx_process, :error, errno, stage}` names what failed:

    * agent set-up: `:agent_init`, `:posix_openpt`, `:ptsetup`, `:pts_open`, `:pipe2`,
      `:connect_unix` (a `{:connect_unix, path}` that could not connect, on the host,
      before the clone), `:stdio` (opening `/dev/null`, or wiring fds 0-2 in the child);
    * creation: `:clone` (spawn), `:fork` (enter);
    * enter: `:open_ns_proc`, `:open_ns_<type>`, `:setns_<type>` for the types `user
      mount uts ipc cgroup net time pid`;
    * in the child: `:sigprocmask`, `:chdir`, `:execve`, `:cap_drop_bounding`,
      `:cap_set_thread`, `:cap_set_ambient`, `:seccomp_install`, `:seccomp_no_new_privs`;
    * transport: `:malformed_request`, `:request_too_big`, `:command_too_big`,
      `:malformed_command`, `:ready_frame`, `:malformed_ready`, `:exec_outcome`, and the
      agent's own `:poll` and `:waitid`;
    * BEAM side: `:agent_start` (the agent could not be started; errno from `Port.open`),
      `:agent_protocol` (the agent sent something undecodable: it is closed, EPROTO 71),
      `:agent_channel` (the Port to the agent broke, e.g. EPIPE), `:agent_died` (the
      agent exited without a terminal event; the integer is its exit status, not an
      errno).

  `Linx.Process.Error` turns these into an exception struct (`wait/2` returns it).
  """

  import Kernel, except: [spawn: 1]

  alias Linx.Process.{Agent, Options, Prestart, Session}

  @typedoc "A session: the pid of the GenServer that owns one agent and its workload."
  @type t :: pid()

  @type namespace :: :net | :mount | :pid | :uts | :ipc | :user | :cgroup | :time

  @typedoc "A pty window size: `{rows, cols, xpixel, ypixel}`, each 0..65535."
  @type winsize :: {non_neg_integer(), non_neg_integer(), non_neg_integer(), non_neg_integer()}

  # Every stage the agent or the session can report. The agent's frames are decoded with
  # `binary_to_term(_, [:safe])`, which refuses atoms that do not exist yet: listing them
  # here makes them exist. A test checks this list against `linx_agent --list-stages`.
  @error_stages ~w(
    agent_init posix_openpt ptsetup ptsname pts_open pipe2 signalfd sigprocmask
    connect_unix clone fork open_ns_proc
    open_ns_user open_ns_mount open_ns_uts open_ns_ipc open_ns_cgroup open_ns_net
    open_ns_time open_ns_pid
    setns_user setns_mount setns_uts setns_ipc setns_cgroup setns_net setns_time setns_pid
    stdio chdir execve cap_drop_bounding cap_set_thread cap_set_ambient seccomp_install
    seccomp_no_new_privs
    malformed_request request_too_big command_too_big malformed_command ready_frame
    malformed_ready exec_outcome poll waitid
    agent_start agent_protocol agent_channel agent_died unknown
  )a

  @doc false
  @spec __error_stages__() :: [atom()]
  def __error_stages__, do: @error_stages

  @doc """
  A supervisor child spec that runs `spawn/1` with `opts`.

  Besides `spawn/1`'s options it takes `:id` (default `Linx.Process`), `:restart`
  (default `:permanent`) and `:shutdown` (default 5000 ms). It sets `linger: false`
  unless given, so the session stops when the workload ends, with an exit reason the
  supervisor's restart policy can use: exit 0 → `:normal`, exit N → `{:exited, N}`, a
  signal → `{:signaled, n}`, an abort → `{:shutdown, :aborted}`, a failure →
  `{:error, %Linx.Process.Error{}}`. Pass `auto_proceed: true` (nobody else holds the
  session to call `proceed/1`) and usually an `:owner` for the events.

      children = [
        {Linx.Process, argv: ["/usr/sbin/mydaemon"], auto_proceed: true, restart: :transient}
      ]

  A supervisor shutdown kills the workload (the session traps exits) before the
  supervisor moves on, so a restart never runs two copies at once.
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) when is_list(opts) do
    {id, opts} = Keyword.pop(opts, :id, __MODULE__)
    {restart, opts} = Keyword.pop(opts, :restart, :permanent)
    {shutdown, opts} = Keyword.pop(opts, :shutdown, 5_000)

    %{
      id: id,
      start: {__MODULE__, :spawn, [Keyword.put_new(opts, :linger, false)]},
      restart: restart,
      shutdown: shutdown,
      type: :worker
    }
  end

  @doc """
  Creates a workload with `clone3(2)` (see clone(2)), optionally in new namespaces, and
  parks it at the checkpoint. Returns `{:ok, session}` (linked to the caller); the owner
  then gets `{:linx_process, :ready, host_pid}`.

  Options:

    * `:argv` (required): a non-empty list of binaries; the first is the absolute path
      to execute (there is no `$PATH` lookup).
    * `:namespaces`: namespace kinds to create, default `[]`: `:net`, `:mount`, `:pid`,
      `:uts`, `:ipc`, `:user`, `:cgroup`, `:time`. All but `:user` need CAP_SYS_ADMIN.
    * `:env`: the environment as `"KEY=VALUE"` binaries; default the BEAM's.
    * `:cwd`: the directory to `chdir` to just before `execve` (after the checkpoint, so
      in a root pivoted meanwhile); default the BEAM's.
    * `:stdio`: `:inherit` (default: the BEAM's fds 0-2), `:devnull`, `:pty` (one
      pseudo-terminal for all three, see `pty_write/2`), `:pipe` (all three relayed:
      `stdin_write/2`, `:stdout`/`:stderr` events), or a keyword list
      `[stdin: d, stdout: d, stderr: d]` with `d` one of `:inherit`, `:devnull`, `:pipe`,
      `{:connect_unix, path}` (an AF_UNIX stream socket, connected by the agent on the
      host before the clone; the listener must already be listening).
    * `:owner`: the pid (or registered name) that receives the events; default the
      caller. If a pid owner exits, the session stops and the workload is killed.
    * `:linger`: `true` (default) keeps the session alive after the terminal event so
      `wait/1` and `info/1` still answer; `false` stops it (see `child_spec/1`).
    * `:auto_proceed`: proceed by itself at `:ready` (unless an abort is pending).
    * `:no_new_privs`: set `PR_SET_NO_NEW_PRIVS` in the child before `:ready`.
    * `:orphan_policy`: `{:kill, grace_ms}`: what the agent does with a running workload
      if the session vanishes without a graceful stop (the VM was killed): SIGKILL at
      once for `{:kill, 0}` (the default), else SIGTERM, `grace_ms`, then SIGKILL.
    * `:agent`: another agent executable (default the one `mix compile` installed).

  Invalid values return `{:error, reason}` before anything starts: `:argv_required`,
  `{:bad_argv, argv}`, `{:bad_namespaces, unknown}`, `{:bad_namespaces, {:not_a_list,
  x}}`, `{:bad_env, {:not_a_list, x}}`, `{:bad_env, {:not_all_binaries, list}}`,
  `{:bad_env, {:nul_byte, entry}}`, `{:bad_stdio, x}`, `{:bad_stdio, {:bad_fd_entry,
  e}}`, `{:bad_stdio, {:bad_directive, d}}`, `{:bad_cwd, x}`, `{:bad_no_new_privs, x}`,
  `{:bad_orphan_policy, x}`, `{:bad_owner, x}`, `{:bad_linger, x}`,
  `{:bad_auto_proceed, x}`, `{:bad_agent, x}`, and `{:missing_binary, path}` when the
  agent is not built. An unknown option key raises `ArgumentError`.
  """
  @spec spawn(keyword()) :: {:ok, t()} | {:error, term()}
  def spawn(opts) do
    with {:ok, request, session} <- Options.spawn_request(opts) do
      start(:spawn, request, session)
    end
  end

  @doc """
  Runs a workload inside the namespaces of the existing process `target` (a host pid),
  like nsenter(1): the agent opens `/proc/<target>/ns/*` through one pinned directory,
  `setns(2)`s itself into each (user first, pid last; kinds it already shares are
  skipped), then clones the child there. The BEAM's threads never change namespace.
  Same checkpoint and events as `spawn/1`.

  `:namespaces` lists the kinds to join; by default all the target has. The other
  options are `spawn/1`'s.
  """
  @spec enter(pos_integer(), keyword()) :: {:ok, t()} | {:error, term()}
  def enter(target, opts) when is_integer(target) and target > 0 and is_list(opts) do
    with {:ok, request, session} <- Options.enter_request(target, opts) do
      start(:enter, request, session)
    end
  end

  # The default agent may have been started ahead (Linx.Process.Prestart): then the new
  # session adopts it, and the binary is known to exist.
  defp start(mode, request, %{agent: nil} = session) do
    path = Agent.default_path()

    {check, port, key} =
      case Prestart.take() do
        {:ok, port, key} -> {:ok, port, key}
        :none -> {Agent.check(path), nil, nil}
      end

    with :ok <- check do
      session = Map.merge(session, %{agent: path, prestart?: true, port: port, key: key})

      case GenServer.start_link(Session, {mode, request, session}) do
        {:ok, pid} ->
          {:ok, pid}

        error ->
          if port, do: Prestart.discard(port)
          error
      end
    end
  end

  defp start(mode, request, session) do
    with :ok <- Agent.check(session.agent) do
      GenServer.start_link(Session, {mode, request, session})
    end
  end

  @doc """
  Lets the parked child continue: `chdir`, seccomp filters, `execve`. The owner then
  gets `:running` (or the failure).

  Returns `:ok`, `{:error, :not_ready}` before `:ready`, `{:error, :running}` after
  `:running`, `{:error, :no_process}` once the session ended (or was aborted).
  """
  @spec proceed(t()) :: :ok | {:error, :not_ready | :running | :no_process}
  def proceed(session) when is_pid(session), do: call(session, :proceed)

  @doc """
  Discards the parked child without running anything; the owner gets
  `{:linx_process, :aborted}`. Called before `:ready` it is remembered and done at
  `:ready`.

  Returns `:ok`, `{:error, :running}` once `proceed/1` was called, or
  `{:error, :no_process}`.
  """
  @spec abort(t()) :: :ok | {:error, :running | :no_process}
  def abort(session) when is_pid(session), do: call(session, :abort)

  @doc """
  Sends signal `signum` (1..64) to the workload, through its pidfd
  (`pidfd_send_signal(2)`). Signals sent before `:running` are kept and delivered, in
  order, right after the exec. Fire-and-forget: `:ok`, or `{:error, :no_process}` after
  the end.

  A pid-namespace init ignores signals it has no handler for, except SIGKILL.
  """
  @spec signal(t(), 1..64) :: :ok | {:error, :no_process}
  def signal(session, signum) when is_pid(session) and is_integer(signum) and signum in 1..64,
    do: call(session, {:signal, signum})

  @doc """
  Waits for the terminal event: `{:ok, {:exited, code}}`, `{:ok, {:signaled, signum}}`,
  `{:ok, :aborted}`, or `{:error, %Linx.Process.Error{}}`. Any number of processes may
  wait; all get the same answer. `{:error, :timeout}` leaves the session running;
  `{:error, :no_process}` means the session is gone.
  """
  @spec wait(t(), timeout()) ::
          {:ok, {:exited, non_neg_integer()} | {:signaled, pos_integer()} | :aborted}
          | {:error, Linx.Process.Error.t() | :timeout | :no_process}
  def wait(session, timeout \\ :infinity)
      when is_pid(session) and (timeout == :infinity or (is_integer(timeout) and timeout >= 0)),
      do: call(session, {:wait, timeout}, :infinity)

  @doc """
  A snapshot of the session (`Linx.Process.Info`); works after the end while the session
  lingers. `{:error, :no_process}` once it is gone.
  """
  @spec info(t()) :: {:ok, Linx.Process.Info.t()} | {:error, :no_process}
  def info(session) when is_pid(session), do: call(session, :info)

  @doc """
  The workload's pid in the BEAM's pid namespace (what `/proc/<pid>`, uid maps and
  `Rtnl.open({:pid, pid})` want). `{:error, :not_ready}` until the agent reported the
  clone, `{:error, :no_process}` when the session is gone.
  """
  @spec host_pid(t()) :: {:ok, pos_integer()} | {:error, :not_ready | :no_process}
  def host_pid(session) when is_pid(session), do: call(session, :host_pid)

  @doc """
  Writes to the workload's terminal (`stdio: :pty`): the bytes reach the PTY master in
  order and whole, whatever their size, as fast as the workload reads them.

  Returns `:ok`, `{:error, :no_pty}`, `{:error, :not_running}` before `:running`,
  `{:error, :no_process}` after the end, or `{:error, :input_full}` when more than
  64 MiB wait to be read.
  """
  @spec pty_write(t(), iodata()) ::
          :ok | {:error, :no_pty | :not_running | :no_process | :input_full}
  def pty_write(session, bytes) when is_pid(session),
    do: call(session, {:pty_write, IO.iodata_to_binary(bytes)})

  @doc """
  Sets the terminal's window size (`TIOCSWINSZ` on the master; the workload gets
  SIGWINCH), at the checkpoint or while running. Takes `{rows, cols, xpixel, ypixel}`
  or any map with those keys (such as `%Linx.Tty.WindowSize{}`), each 0..65535.

  Returns `:ok`, `{:error, {:bad_winsize, term}}`, `{:error, :no_pty}`,
  `{:error, :not_ready}` before `:ready`, or `{:error, :no_process}`.
  """
  @spec pty_set_winsize(t(), winsize() | map()) :: :ok | {:error, term()}
  def pty_set_winsize(session, {r, c, x, y} = ws)
      when is_pid(session) and r in 0..0xFFFF and c in 0..0xFFFF and x in 0..0xFFFF and
             y in 0..0xFFFF,
      do: call(session, {:pty_winsize, ws})

  def pty_set_winsize(session, %{rows: r, cols: c, xpixel: x, ypixel: y} = ws)
      when is_pid(session) do
    case {r, c, x, y} do
      {r, c, x, y}
      when r in 0..0xFFFF and c in 0..0xFFFF and x in 0..0xFFFF and y in 0..0xFFFF ->
        pty_set_winsize(session, {r, c, x, y})

      _ ->
        {:error, {:bad_winsize, ws}}
    end
  end

  def pty_set_winsize(session, bad) when is_pid(session), do: {:error, {:bad_winsize, bad}}

  @doc """
  `{:ok, session}` for a `stdio: :pty` session (the session is the PTY handle:
  `pty_write/2` in, `:pty_out` events out), `{:error, :no_pty}` otherwise.
  """
  @spec pty_master(t()) :: {:ok, t()} | {:error, :no_pty | :no_process}
  def pty_master(session) when is_pid(session), do: call(session, :pty_master)

  @doc """
  Writes to the workload's stdin pipe (`stdio: :pipe` or `[stdin: :pipe]`), in order and
  whole, as fast as it reads.

  Returns `:ok`, `{:error, :no_stdin_pipe}`, `{:error, :not_running}`,
  `{:error, :closed}` after `stdin_close/1`, `{:error, :no_process}`, or
  `{:error, :input_full}`.
  """
  @spec stdin_write(t(), iodata()) :: :ok | {:error, atom()}
  def stdin_write(session, bytes) when is_pid(session),
    do: call(session, {:stdin_write, IO.iodata_to_binary(bytes)})

  @doc """
  Closes the workload's stdin pipe once everything written before has been delivered:
  the workload reads end of file. Returns `:ok` (also when already closed),
  `{:error, :no_stdin_pipe}`, `{:error, :not_running}` or `{:error, :no_process}`.
  """
  @spec stdin_close(t()) :: :ok | {:error, atom()}
  def stdin_close(session) when is_pid(session), do: call(session, :stdin_close)

  @doc """
  Sends all later events to `new_owner` (a pid or a registered name), e.g. to lend a PTY
  session to a process that attaches a terminal. A pid owner is monitored like the
  first one. `{:error, :no_process}` when the session is gone.
  """
  @spec set_owner(t(), pid() | atom()) :: :ok | {:error, :no_process}
  def set_owner(session, new_owner)
      when is_pid(session) and (is_pid(new_owner) or is_atom(new_owner)),
      do: call(session, {:set_owner, new_owner})

  # Every verb answers {:error, :no_process} for a session that is gone (0.2 exited the
  # caller from some of them).
  defp call(session, message, timeout \\ 5_000) do
    GenServer.call(session, message, timeout)
  catch
    :exit, _ -> {:error, :no_process}
  end
end
