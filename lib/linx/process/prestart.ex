defmodule Linx.Process.Prestart do
  @moduledoc false
  # Agents started ahead. Starting an agent (the runtime's fork and exec, the dynamic
  # loader, the agent's own set-up) is about half of what a spawn costs, and none of it
  # depends on the request. So once a session's own spawn is over, agents are started
  # for the next spawns (up to @ahead idle ones) and left idle on their fd 3, until a new
  # session adopts one (Port.connect/2) or they expire.
  #
  # What an agent inherits from the BEAM is what the BEAM had when the agent started:
  # the environment and the working directory are compared at adoption (see take/0),
  # and a change discards it, so a workload gets exactly what a freshly started agent
  # would give it.
  # An idle agent expires after @idle_ms, so a quiet VM keeps no extra process or
  # descriptor. Only the default agent is started ahead (an `:agent` option always
  # starts its own), and `config :linx, process_prestart: false` turns it off.
  #
  # Creating a network namespace is the costliest part of a spawn's clone3 and does not
  # depend on the request either: when the last spawn asked for a new network namespace
  # (and no user namespace, which would have to own it), the agents started next are
  # asked to create one while they wait (`linx_agent --prepare-net`), and a spawn that
  # wants one again clones without CLONE_NEWNET and enters it (the agent's
  # clone::SpareNetns). An agent whose request turns out not to want it just closes it.
  #
  # The idle agents sit in a public ETS table, so adoption costs the new session one
  # :ets.take/2 and no message. The table and the ports belong to a small process
  # started on first use; losing it only loses the head start.

  use GenServer

  @table __MODULE__
  @idle_ms 1_000
  # Two, so that a tight loop of spawns adopts an agent started one spawn earlier (ready
  # by then), not the one started a moment ago.
  @ahead 2
  @refill_delay_ms 2

  @doc """
  Takes an idle agent, with the key of what it inherited, or returns `:none`. The caller
  (a new session) then owns it with `Port.connect(port, self())`, sends its request at
  once, and checks the key against `key/0` while the agent works: a mismatch (the
  environment or working directory changed since) means starting over with a new agent
  before any of this one's events are used. Computing the key costs a dirty-scheduler
  call and a copy of the environment, which is kept off the spawn's path this way.
  """
  @spec take() :: {:ok, port(), integer()} | :none
  def take do
    if enabled?() and :ets.whereis(@table) != :undefined, do: take_any(), else: :none
  rescue
    # The table went away meanwhile.
    ArgumentError -> :none
  end

  defp take_any do
    case :ets.first(@table) do
      :"$end_of_table" ->
        :none

      port ->
        case :ets.take(@table, port) do
          [{^port, key, _since, _os_pid}] -> {:ok, port, key}
          # Taken by someone else meanwhile.
          [] -> take_any()
        end
    end
  end

  @doc """
  Tells the pool that a session adopted `port`. The pool stays linked to an idle
  agent's port (so that the pool's end closes it) and unlinks it once adopted, so that
  a session's agent never shares the pool's fate.
  """
  @spec adopted(port()) :: :ok
  def adopted(port) do
    case Process.whereis(__MODULE__) do
      nil -> :ok
      pid -> GenServer.cast(pid, {:adopted, port})
    end
  end

  @doc """
  A fingerprint of what an agent inherits from the BEAM that a workload could tell
  apart: the environment and the working directory.
  """
  @spec key() :: integer()
  def key, do: :erlang.phash2({:os.getenv(), :prim_file.get_cwd()})

  @doc """
  Closes every idle agent started with `key` (found stale by a session: the BEAM's
  environment or working directory changed since).
  """
  @spec discard_key(integer()) :: :ok
  def discard_key(key) do
    _ =
      if :ets.whereis(@table) != :undefined do
        for {port, ^key, _, _} <- :ets.tab2list(@table),
            [_] <- [:ets.take(@table, port)],
            do: discard(port)
      end

    :ok
  rescue
    ArgumentError -> :ok
  end

  @doc """
  Closes an agent that was taken but is of no use (its key no longer holds): end of
  file on its fd 3 makes an agent without a workload exit (one with a workload kills
  it first).
  """
  @spec discard(port()) :: true
  def discard(port) do
    Port.close(port)
  rescue
    ArgumentError -> true
  end

  @doc """
  Asks for agents to be started ahead, up to two idle ones. A session asks
  once its own spawn is over: starting an agent takes CPU time that must not compete
  with the spawn being waited for. `prepare_net`: whether that spawn asked for a new
  network namespace without a user namespace (the next one probably will too), so the
  agents started from now on make one ahead.
  """
  @spec refill(boolean()) :: :ok
  def refill(prepare_net \\ false) do
    if enabled?(), do: GenServer.cast(pool(), {:refill, prepare_net})
    :ok
  catch
    :exit, _ -> :ok
  end

  @doc """
  Closes every idle agent and drops pending requests to start more (for tests that count
  processes and descriptors).
  """
  @spec drain() :: :ok
  def drain do
    case Process.whereis(__MODULE__) do
      nil -> :ok
      pid -> GenServer.call(pid, :drain)
    end
  catch
    :exit, _ -> :ok
  end

  @doc "The OS pids of the idle agents."
  @spec idle_os_pids() :: [pos_integer()]
  def idle_os_pids do
    if :ets.whereis(@table) == :undefined,
      do: [],
      else: for({_port, _key, _since, os_pid} <- :ets.tab2list(@table), do: os_pid)
  rescue
    ArgumentError -> []
  end

  defp enabled?, do: Application.get_env(:linx, :process_prestart, true) == true

  defp pool do
    case Process.whereis(__MODULE__) do
      nil ->
        case GenServer.start(__MODULE__, [], name: __MODULE__) do
          {:ok, pid} -> pid
          {:error, {:already_started, pid}} -> pid
        end

      pid ->
        pid
    end
  end

  @impl true
  def init([]) do
    Process.flag(:trap_exit, true)
    @table = :ets.new(@table, [:named_table, :public, :set, read_concurrency: true])
    {:ok, %{timer: nil, refill: nil, prepare_net: false}}
  end

  @impl true
  def handle_cast({:adopted, port}, state) do
    true = Process.unlink(port)
    {:noreply, state}
  end

  # Requests are gathered for @refill_delay_ms: whoever asked (a session that just ended)
  # has an owner about to act on that (stop the session, spawn the next), and starting
  # an agent would hold a scheduler meanwhile.
  def handle_cast({:refill, prepare_net}, %{refill: nil} = state) do
    timer = Process.send_after(self(), :refill, @refill_delay_ms)
    {:noreply, %{state | refill: timer, prepare_net: prepare_net}}
  end

  def handle_cast({:refill, prepare_net}, state),
    do: {:noreply, %{state | prepare_net: prepare_net}}

  defp start_one(prepare_net) do
    path = Linx.Process.Agent.default_path()
    key = key()

    with :ok <- Linx.Process.Agent.check(path),
         {:ok, port} <- Linx.Process.Agent.open(path, prepare_net: prepare_net) do
      since = System.monotonic_time(:millisecond)
      true = :ets.insert(@table, {port, key, since, Linx.Process.Agent.os_pid(port)})
      :ok
    end
  end

  # Idle agents are closed only once :ets.take/2 returned them here, so never one that a
  # session adopted meanwhile.
  @impl true
  def handle_call(:drain, _from, state) do
    # Agents asked for but not started yet are dropped too.
    state =
      case state.refill do
        nil ->
          state

        timer ->
          _ = Process.cancel_timer(timer)

          receive do
            :refill -> :ok
          after
            0 -> :ok
          end

          %{state | refill: nil}
      end

    for {port, _, _, _} <- :ets.tab2list(@table),
        [_] <- [:ets.take(@table, port)],
        do: discard(port)

    {:reply, :ok, state}
  end

  @impl true
  def handle_info(:refill, state) do
    for _ <- :ets.info(@table, :size)..(@ahead - 1)//1, do: _ = start_one(state.prepare_net)
    {:noreply, arm(%{state | refill: nil})}
  end

  def handle_info(:expire, state) do
    now = System.monotonic_time(:millisecond)

    for {port, _, since, _} <- :ets.tab2list(@table),
        now - since >= @idle_ms,
        [_] <- [:ets.take(@table, port)],
        do: discard(port)

    {:noreply, arm(%{state | timer: nil})}
  end

  # An idle agent exited on its own (killed from outside): forget it. (An adopted one
  # reports to its session, not here.)
  def handle_info({port, {:exit_status, _}}, state) when is_port(port) do
    :ets.delete(@table, port)
    {:noreply, state}
  end

  # Exit signals of ports this process started (closed here or by their session).
  def handle_info(_other, state), do: {:noreply, state}

  # One timer for the oldest idle agent.
  defp arm(%{timer: nil} = state) do
    case :ets.tab2list(@table) do
      [] ->
        state

      idle ->
        oldest = idle |> Enum.map(&elem(&1, 2)) |> Enum.min()
        wait = max(oldest + @idle_ms - System.monotonic_time(:millisecond), 0)
        %{state | timer: Process.send_after(self(), :expire, wait)}
    end
  end

  defp arm(state), do: state
end
