defmodule Linx.Netfilter.Flowtable do
  @moduledoc """
  A flowtable: a fast path for established flows between `devices`, fed by rules with
  `flow add @name`.

      {:ok, ft} = Linx.Netfilter.Flowtable.new("fast", devices: ["veth0", "veth1"])

  Fields: `name`, `table`, `hook` (`:ingress`, the only flowtable hook), `priority`
  (integer, default 0, or `:filter`), `devices` (non-empty names), `flags`
  (`:hw_offload`, `:counter`), `handle`. Flowtables need `CONFIG_NF_FLOW_TABLE`; on a
  kernel without it, pushing one returns the kernel's error.
  """

  @enforce_keys [:name]
  defstruct name: nil,
            table: nil,
            hook: :ingress,
            priority: 0,
            handle: nil,
            devices: [],
            flags: []

  @type t :: %__MODULE__{
          name: String.t(),
          table: String.t() | nil,
          hook: :ingress,
          priority: integer() | :filter,
          handle: non_neg_integer() | nil,
          devices: [String.t()],
          flags: [:hw_offload | :counter]
        }

  @fields [:table, :hook, :priority, :handle, :devices, :flags]

  @doc "Builds a flowtable; `{:error, {:bad_flowtable, reason}}` on a bad field."
  @spec new(String.t(), keyword()) :: {:ok, t()} | {:error, {:bad_flowtable, term()}}
  def new(name, opts \\ []) do
    case Keyword.keys(opts) -- @fields do
      [] ->
        ft = struct(%__MODULE__{name: name}, opts)
        with :ok <- validate(ft), do: {:ok, %{ft | flags: Enum.sort(Enum.uniq(ft.flags))}}

      bad ->
        {:error, {:bad_flowtable, {:unknown_option, bad}}}
    end
  end

  @doc "Like `new/2`; raises `ArgumentError`."
  @spec new!(String.t(), keyword()) :: t()
  def new!(name, opts \\ []) do
    case new(name, opts) do
      {:ok, ft} -> ft
      {:error, reason} -> raise ArgumentError, "invalid flowtable: #{inspect(reason)}"
    end
  end

  @doc false
  @spec validate(t()) :: :ok | {:error, {:bad_flowtable, term()}}
  def validate(%__MODULE__{} = ft) do
    cond do
      not is_binary(ft.name) or ft.name == "" ->
        {:error, {:bad_flowtable, :name_empty}}

      ft.hook != :ingress ->
        {:error, {:bad_flowtable, {:bad_hook, ft.hook}}}

      not (is_integer(ft.priority) or ft.priority == :filter) ->
        {:error, {:bad_flowtable, {:bad_priority, ft.priority}}}

      not is_list(ft.devices) ->
        {:error, {:bad_flowtable, {:bad_devices, ft.devices}}}

      (d = Enum.find(ft.devices, &(not (is_binary(&1) and &1 != "" and byte_size(&1) < 16)))) !=
          nil ->
        {:error, {:bad_flowtable, {:bad_device, d}}}

      not is_list(ft.flags) ->
        {:error, {:bad_flowtable, {:bad_flags, ft.flags}}}

      (f = Enum.find(ft.flags, &(&1 not in [:hw_offload, :counter]))) != nil ->
        {:error, {:bad_flowtable, {:unknown_flag, f}}}

      true ->
        :ok
    end
  end
end
